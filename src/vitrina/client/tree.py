"""A store's categories as one local tree, for matching names and paths."""

from __future__ import annotations

from collections.abc import Iterable

from vitrina import wire

SEPARATOR = " \u203a "  # between the names of a path (a single right-pointing angle quote)


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class Tree:
    def __init__(self, categories: Iterable[wire.Category]) -> None:
        self.by_id: dict[int, wire.Category] = {}
        self.children: dict[int, list[int]] = {}
        for category in categories:
            self.add(category)

    def add(self, category: wire.Category) -> None:
        self.by_id[category.id] = category
        self.children.setdefault(self.parent_of(category.id), []).append(category.id)

    def parent_of(self, category_id: int) -> int:
        parent = self.by_id[category_id].parentId
        return parent if isinstance(parent, int) else 0

    def named(self, name: str) -> list[wire.Category]:
        key = _key(name)
        return [c for c in self.by_id.values() if _key(c.name) == key]

    def child(self, parent: int, name: str) -> int | None:
        """The child of ``parent`` named ``name`` (the lowest id if several)."""
        key = _key(name)
        found = [i for i in self.children.get(parent, []) if _key(self.by_id[i].name) == key]
        return min(found) if found else None

    def walk(self, names: list[str]) -> tuple[int, list[str]]:
        """The deepest existing category along ``names`` from the root, and
        the names below it that do not exist (empty when all do)."""
        parent = 0
        for depth, name in enumerate(names):
            found = self.child(parent, name)
            if found is None:
                return parent, names[depth:]
            parent = found
        return parent, []

    def path_of(self, category_id: int) -> str:
        names = []
        current: int | None = category_id
        seen = set()
        while current and current in self.by_id and current not in seen:
            seen.add(current)
            names.append(self.by_id[current].name)
            current = self.parent_of(current)
        return SEPARATOR.join(reversed(names))

    def depth_first(self, parent: int = 0) -> list[int]:
        """Every id under ``parent``, parents before their children."""
        order: list[int] = []
        pending = list(reversed(self.children.get(parent, [])))
        while pending:
            current = pending.pop()
            order.append(current)
            pending.extend(reversed(self.children.get(current, [])))
        return order
