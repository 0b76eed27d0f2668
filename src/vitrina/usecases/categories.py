"""Category use cases: create, update (move included), delete with the
subtree and its image files. The parent rule lives in ``catalog.check_parent``
and is applied in the store's write transaction, where the tree cannot change
underneath it. Each returns what it did (``Consequences``), carried out
already (``consequences.follow``)."""

from __future__ import annotations

from vitrina.bootstrap import Services
from vitrina.domain.errors import CategoryNotFound
from vitrina.domain.values import CategoryChanges, Consequences
from vitrina.usecases.consequences import follow


def create(services: Services, store_id: int, changes: CategoryChanges) -> tuple[int, Consequences]:
    """A new category; its id."""
    category_id, done = services.metadata.catalog.create_category(store_id, changes)
    follow(services, done)
    return category_id, done


def update(
    services: Services, store_id: int, category_id: int, changes: CategoryChanges
) -> Consequences:
    done = services.metadata.catalog.update_category(store_id, category_id, changes)
    if done is None:
        raise CategoryNotFound(category_id)
    follow(services, done)
    return done


def delete(services: Services, store_id: int, category_id: int) -> Consequences:
    """Delete the category, its subcategories and every image file of them."""
    done = services.metadata.catalog.delete_category(store_id, category_id)
    if done is None:
        raise CategoryNotFound(category_id)
    follow(services, done)
    return done
