"""Category use cases: create, update (move included), delete with the
subtree and its image files. The parent rules live in ``catalog.check_parent``
and are applied in the store's write transaction, where the tree cannot change
underneath them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vitrina import images
from vitrina.bootstrap import Services
from vitrina.errors import CategoryNotFound


def create(services: Services, store_id: int, values: Mapping[str, Any]) -> int:
    """A new category from checked ``values``; its id."""
    return services.metadata.catalog.create_category(store_id, values)


def update(services: Services, store_id: int, category_id: int, values: Mapping[str, Any]) -> None:
    if not services.metadata.catalog.update_category(store_id, category_id, values):
        raise CategoryNotFound(category_id)


def delete(services: Services, store_id: int, category_id: int) -> None:
    """Delete the category, its subcategories and every image file of them."""
    keys = services.metadata.catalog.delete_category(store_id, category_id)
    if keys is None:
        raise CategoryNotFound(category_id)
    images.delete_quietly(services, keys)
