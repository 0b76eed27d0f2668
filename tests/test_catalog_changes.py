"""Read caches patch a store's tree with what changed instead of reloading
it; the patched tree must always equal one loaded whole."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from tests import sample_images as images
from vitrina.backends.metadata import sql_base
from vitrina.bootstrap import Services, build_version_check
from vitrina.domain.errors import BadRequest
from vitrina.domain.tree import CategoryQuery, CategoryTree
from vitrina.domain.values import Category, CategoryChanges
from vitrina.usecases import category_images as image_cases
from vitrina.web.caches import CatalogCache


def _same(patched: CategoryTree, whole: CategoryTree) -> None:
    assert patched.by_id == whole.by_id
    assert [c.id for c in patched.ordered] == [c.id for c in whole.ordered]
    assert {k: sorted(v) for k, v in patched.children.items() if v} == {
        k: sorted(v) for k, v in whole.children.items() if v
    }


def test_random_writes_patch_the_tree_exactly(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []

    class Counted(CategoryTree):
        def __init__(self, categories: Iterable[Category]) -> None:
            loads.append(1)
            super().__init__(categories)

    monkeypatch.setattr("vitrina.web.caches.CategoryTree", Counted)
    store = services.metadata.stores.create_store("Shop", "https://shop.example.com")
    catalog = services.metadata.catalog
    cache = CatalogCache(services.metadata, build_version_check(services))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(images.jpeg(640, 480))
    rng = random.Random(20261127)
    ids: list[int] = []
    words = ["toy", "car", "kite", "book", "seed", "Tool", "TOYS"]
    cache.tree(store.id)
    for step in range(160):
        action = rng.choice(["create", "create", "update", "move", "delete", "image"])
        if action == "create" or not ids:
            parent = rng.choice([None, *ids[-20:]]) if ids else None
            name = f"{rng.choice(words)} {step}"
            ids.append(
                catalog.create_category(store.id, CategoryChanges(name=name, parent_id=parent))[0]
            )
        elif action == "update":
            catalog.update_category(
                store.id,
                rng.choice(ids),
                CategoryChanges(description=rng.choice(words), order_by=rng.randint(-5, 50)),
            )
        elif action == "move":
            moved, target = rng.choice(ids), rng.choice([None, *ids])
            with contextlib.suppress(BadRequest):  # a move under itself is refused
                catalog.update_category(store.id, moved, CategoryChanges(parent_id=target))
        elif action == "delete":
            catalog.delete_category(store.id, rng.choice(ids))
            alive = {c.id for c in catalog.list_categories(store.id)}
            ids = [i for i in ids if i in alive]
        else:
            image_cases.upload(services, store, rng.choice(ids), photo)
        if step % 4 == 0:
            _, tree = cache.tree(store.id)
            _same(tree, CategoryTree(catalog.list_categories(store.id)))
            assert len(loads) == 1  # the first read loaded the store; every later one patched
            for word in ("toy", "CAR", "oo", "zzz"):
                query = CategoryQuery(keyword=word, hidden=True, limit=1000)
                naive = [
                    c.id
                    for c in tree.ordered
                    if word.casefold() in c.name.casefold()
                    or word.casefold() in c.description.casefold()
                ]
                assert [c.id for c in tree.search(query)[1]] == naive


def test_a_copy_too_old_to_patch_is_reloaded(services: Services) -> None:
    store = services.metadata.stores.create_store("Shop", "https://shop.example.com")
    catalog = services.metadata.catalog
    first = catalog.create_category(store.id, CategoryChanges(name="First"))[0]
    version, changes = catalog.catalog_snapshot(store.id, None)
    assert changes is not None and changes.complete
    catalog.delete_category(store.id, first)
    catalog.create_category(store.id, CategoryChanges(name="Second"))[0]
    _, patch = catalog.catalog_snapshot(store.id, version)
    assert patch is not None and not patch.complete
    assert [c.name for c in patch.categories] == ["Second"] and list(patch.deleted) == [first]
    _, old = catalog.catalog_snapshot(store.id, version - sql_base.CHANGES_KEPT - 1)
    assert old is not None and old.complete


def test_another_process_writes_and_this_one_patches(services: Services, settings: object) -> None:
    from vitrina.bootstrap import build_services

    store = services.metadata.stores.create_store("Shop", "https://shop.example.com")
    cache = CatalogCache(services.metadata, build_version_check(services))
    kept = services.metadata.catalog.create_category(store.id, CategoryChanges(name="Kept"))[0]
    cache.tree(store.id)
    with build_services(services.settings) as other:
        other.metadata.catalog.update_category(store.id, kept, CategoryChanges(name="Renamed"))
        made = other.metadata.catalog.create_category(
            store.id, CategoryChanges(name="New", parent_id=kept)
        )[0]
    _, tree = cache.tree(store.id)
    assert tree.by_id[kept].name == "Renamed"
    assert tree.children[kept] == [made]
