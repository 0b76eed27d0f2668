"""Category queries over one store's tree: search, descendants, product counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vitrina.errors import BadRequest, CategoryNotFound
from vitrina.interfaces import Category

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
    category_id: int, new_parent: int | None, parent_of: Mapping[int, int | None]
) -> None:
    """The rules for moving ``category_id`` under ``new_parent`` (None: the
    root), given every category's parent: the parent exists, and is neither
    the category itself nor inside it."""
    if new_parent is None:
        return
    if new_parent == category_id:
        raise BadRequest(f"Category #{category_id} cannot be its own parent")
    if new_parent not in parent_of:
        raise CategoryNotFound(new_parent)
    ancestor: int | None = new_parent
    while ancestor is not None:
        if ancestor == category_id:
            raise BadRequest(
                f"Category #{category_id} cannot be moved under #{new_parent}: "
                "that category is inside it"
            )
        ancestor = parent_of.get(ancestor)


class CategoryTree:
    """A store's categories, indexed for walking up and down."""

    def __init__(self, categories: Sequence[Category]) -> None:
        self.categories = list(categories)
        self.by_id = {c.id: c for c in self.categories}
        self.children: dict[int | None, list[int]] = {}
        for c in self.categories:
            self.children.setdefault(c.parent_id, []).append(c.id)
        self._product_counts: dict[int, int] = {}

    def descendants(self, category_id: int | None) -> list[int]:
        found: list[int] = []
        queue = list(self.children.get(category_id, ()))
        while queue:
            cid = queue.pop()
            found.append(cid)
            queue.extend(self.children.get(cid, ()))
        return found

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
        ``names``, compared case-insensitively, by id."""
        level: list[int | None] = [None]
        for name in names:
            wanted = name.casefold()
            level = [
                child
                for parent in level
                for child in self.children.get(parent, ())
                if self.by_id[child].name.strip().casefold() == wanted
            ]
        found = [self.by_id[cid] for cid in level if cid is not None] if names else []
        return query.page(sorted((c for c in found if query.shows(c)), key=lambda c: c.id))

    def search(self, query: CategoryQuery) -> tuple[int, list[Category]]:
        """(total matches, the page asked for), ordered by orderBy, then id."""
        found = self.categories
        if query.parents:
            ids: set[int] = set()
            for parent in query.parents:
                if query.with_subcategories:
                    ids.update(self.descendants(parent))
                else:
                    ids.update(self.children.get(parent, ()))
            found = [c for c in found if c.id in ids]
        if query.category_ids is not None:
            found = [c for c in found if c.id in query.category_ids]
        found = [c for c in found if query.shows(c)]
        if query.keyword:
            needle = query.keyword.casefold()
            found = [
                c
                for c in found
                if needle in c.name.casefold() or needle in c.description.casefold()
            ]
        return query.page(sorted(found, key=lambda c: (c.order_by, c.id)))
