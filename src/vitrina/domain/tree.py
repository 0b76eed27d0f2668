"""Category queries over one store's tree: search, descendants, product counts."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vitrina.domain.errors import BadRequest, CategoryNotFound
from vitrina.domain.values import Category
from vitrina.wire import SPACES

MAX_PAGE = 100


@dataclass(frozen=True)
class CategoryQuery:
    parents: frozenset[int | None] = frozenset()  # None stands for the root
    with_subcategories: bool = False
    hidden: bool = False
    keyword: str = ""
    category_ids: frozenset[int] | None = None
    offset: int = 0
    limit: int = MAX_PAGE
    enabled_only: bool = False  # public tokens never see disabled categories

    def shows(self, category: Category) -> bool:
        """Whether a disabled category may be in the answer: with
        hidden_categories, and never for a public token."""
        return category.enabled or (self.hidden and not self.enabled_only)

    def page(self, found: Sequence[Category]) -> tuple[int, list[Category]]:
        return len(found), list(found[self.offset : self.offset + self.limit])


def check_parent(
    category_id: int | None, new_parent: int | None, parent_of: Mapping[int, int | None]
) -> None:
    """The one rule for where a category may go: under ``new_parent`` (None:
    the root), given every category's parent. The parent exists; and for a
    category that exists already (``category_id``; None for a new one) it
    is neither the category itself nor inside it."""
    if new_parent is None:
        return
    if new_parent == category_id:
        raise BadRequest(f"Category #{category_id} cannot be its own parent")
    if new_parent not in parent_of:
        raise CategoryNotFound(new_parent)
    ancestor: int | None = new_parent
    while category_id is not None and ancestor is not None:
        if ancestor == category_id:
            raise BadRequest(
                f"Category #{category_id} cannot be moved under #{new_parent}: "
                "that category is inside it"
            )
        ancestor = parent_of.get(ancestor)


def subtree(children: Mapping[int | None, Sequence[int]], root: int | None) -> list[int]:
    """The one walk down a tree: every category under ``root`` (None: the
    whole store), given each category's children; ``root`` itself not included."""
    found, queue = [], list(children.get(root, ()))
    while queue:
        category_id = queue.pop()
        found.append(category_id)
        queue.extend(children.get(category_id, ()))
    return found


# Tree shapes: a new number whenever product counts may have changed, never
# reused, so rendered answers can be keyed by (category version, shape).
_SHAPES = itertools.count(1)


def _order(category: Category) -> tuple[int, int]:
    return category.order_by, category.id


def _text(category: Category) -> str:
    return f"{category.name.casefold()}\x00{category.description.casefold()}"


class CategoryTree:
    """A store's categories, indexed for walking up and down, and kept in
    search order (orderBy, then id). ``patch`` applies a few changed
    categories with work in proportion to the change, so a write never costs
    a rebuild of the store."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self.by_id: dict[int, Category] = {c.id: c for c in categories}
        self.children: dict[int | None, list[int]] = {}
        for c in self.by_id.values():
            self.children.setdefault(c.parent_id, []).append(c.id)
        self.ordered: list[Category] = sorted(self.by_id.values(), key=_order)
        self._keys: list[tuple[int, int]] = [_order(c) for c in self.ordered]
        self._product_counts: dict[int, int] = {}
        self._haystack: tuple[str, list[int]] | None = None
        self.shape = next(_SHAPES)

    @property
    def categories(self) -> list[Category]:
        return self.ordered

    def patch(self, changed: Sequence[Category], deleted: Sequence[int]) -> None:
        """Write ``changed`` and drop ``deleted``, in place: work in proportion
        to the change (a list insert moves pointers in C), never a rebuild.
        The caller makes sure nobody is reading the tree meanwhile."""
        self._product_counts = {}
        self._haystack = None
        if deleted or any(self._reshapes(c) for c in changed):
            self.shape = next(_SHAPES)

        def remove(category_id: int) -> None:
            old = self.by_id.pop(category_id, None)
            if old is None:
                return
            self.children[old.parent_id].remove(category_id)
            at = bisect.bisect_left(self._keys, _order(old))
            del self.ordered[at], self._keys[at]

        for category_id in deleted:
            remove(category_id)
        for category in changed:
            remove(category.id)
            self.by_id[category.id] = category
            self.children.setdefault(category.parent_id, []).append(category.id)
            at = bisect.bisect_left(self._keys, _order(category))
            self.ordered.insert(at, category)
            self._keys.insert(at, _order(category))

    def _reshapes(self, category: Category) -> bool:
        """Whether writing ``category`` can change what other categories show
        (their product counts): it is new, moved, or has other products."""
        old = self.by_id.get(category.id)
        return (
            old is None
            or old.parent_id != category.parent_id
            or old.product_ids != category.product_ids
        )

    def descendants(self, category_id: int | None) -> list[int]:
        return subtree(self.children, category_id)

    def product_count(self, category_id: int) -> int:
        """Distinct products in the category and all its subcategories."""
        if category_id not in self._product_counts:
            products = set(self.by_id[category_id].product_ids)
            for cid in self.descendants(category_id):
                products.update(self.by_id[cid].product_ids)
            self._product_counts[category_id] = len(products)
        return self._product_counts[category_id]

    def by_path(self, names: Sequence[str], query: CategoryQuery) -> tuple[int, list[Category]]:
        """(total, page) of the categories whose names from the root down are
        ``names``, compared case-insensitively, by id. A query that may not
        see a disabled category may not walk through one either: its name
        is not an answer to be had by guessing paths below it."""
        level: list[int | None] = [None]
        for name in names:
            wanted = name.casefold()
            level = [
                child
                for parent in level
                for child in self.children.get(parent, ())
                if self.by_id[child].name.strip(SPACES).casefold() == wanted
                and (self.by_id[child].enabled or not query.enabled_only)
            ]
        found = [self.by_id[cid] for cid in level if cid is not None] if names else []
        return query.page(sorted((c for c in found if query.shows(c)), key=lambda c: c.id))

    def _matching(self, keyword: str) -> list[Category]:
        """The categories whose name or description holds ``keyword``, in
        search order: one scan of all texts joined (in C), not a loop."""
        if self._haystack is None:
            texts = [_text(c) for c in self.ordered]
            starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
            self._haystack = ("\x01".join(texts), starts)
        haystack, starts = self._haystack
        needle = keyword.casefold()
        if "\x00" in needle or "\x01" in needle:  # the separators match nothing
            return []
        found: list[Category] = []
        at = haystack.find(needle)
        while at != -1:
            index = bisect.bisect_right(starts, at) - 1
            found.append(self.ordered[index])
            at = haystack.find(needle, starts[index + 1])  # the next category's text
        return found

    def search(self, query: CategoryQuery) -> tuple[int, list[Category]]:
        """(total matches, the page asked for), ordered by orderBy, then id."""
        found: Iterable[Category] = self._matching(query.keyword) if query.keyword else self.ordered
        if query.parents:
            ids: set[int] = set()
            for parent in query.parents:
                if query.with_subcategories:
                    ids.update(self.descendants(parent))
                else:
                    ids.update(self.children.get(parent, ()))
            found = [c for c in found if c.id in ids]
        if query.category_ids is not None:
            wanted = query.category_ids
            found = [c for c in found if c.id in wanted]
        return query.page([c for c in found if query.shows(c)])
