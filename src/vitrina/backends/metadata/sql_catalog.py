"""Categories in the SQL metadata database. Every write bumps the store's
catalog version in its transaction (``SqlDatabase.write``), which read caches
compare to know their copy is current."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import catalog_deletions, categories, files, images, stores
from vitrina.backends.metadata.sql_base import (
    CHANGES_KEPT,
    SqlDatabase,
    forget,
    now,
    translate_errors,
)
from vitrina.backends.metadata.sql_images import delete_images, stored_file
from vitrina.backends.metadata.sql_outbox import record
from vitrina.domain.errors import BadRequest
from vitrina.domain.tree import check_parent, subtree
from vitrina.domain.values import (
    CREATED,
    DELETED,
    UPDATED,
    CatalogChanges,
    Category,
    CategoryChanges,
    Consequences,
    Image,
    StoredFile,
)

# Each field a write may set, and its column.
_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": categories.c.name,
    "parent_id": categories.c.parent_id,
    "order_by": categories.c.order_by,
    "name_translated": categories.c.name_translated,
    "description": categories.c.description,
    "description_translated": categories.c.description_translated,
    "enabled": categories.c.enabled,
    "product_ids": categories.c.product_ids,
    "custom_slug": categories.c.custom_slug,
    "seo_title": categories.c.seo_title,
    "seo_title_translated": categories.c.seo_title_translated,
    "seo_description": categories.c.seo_description,
    "seo_description_translated": categories.c.seo_description_translated,
    "alt_main": categories.c.alt_main,
    "alt_translated": categories.c.alt_translated,
}
# What a new category has where its write leaves a field alone.
_NEW: dict[str, Any] = {
    "name_translated": {},
    "description": "",
    "description_translated": {},
    "enabled": True,
    "product_ids": (),
    "custom_slug": "",
    "seo_title": "",
    "seo_title_translated": {},
    "seo_description": "",
    "seo_description_translated": {},
    "alt_main": "",
    "alt_translated": {},
}


def column_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """Fields (CategoryChanges.given()) as column values: maps as dicts and
    product ids as lists, for the JSON columns."""
    values: dict[str, Any] = {}
    for name, value in given.items():
        column = _COLUMNS[name]
        if isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        values[column.key] = value
    return values


def _category(row: sa.Row[Any], image: Image | None) -> Category:
    return Category(
        id=row.id,
        store_id=row.store_id,
        parent_id=row.parent_id,
        order_by=row.order_by,
        name=row.name,
        name_translated=row.name_translated,
        description=row.description,
        description_translated=row.description_translated,
        enabled=bool(row.enabled),
        product_ids=tuple(row.product_ids),
        custom_slug=row.custom_slug,
        seo_title=row.seo_title,
        seo_title_translated=row.seo_title_translated,
        seo_description=row.seo_description,
        seo_description_translated=row.seo_description_translated,
        alt_main=row.alt_main,
        alt_translated=row.alt_translated,
        image_external_id=row.image_external_id,
        image=image,
        version=row.version,
    )


# The hot statements of catalog_snapshot, built once (with bound parameters).
_VERSION = sa.select(stores.c.catalog_version).where(stores.c.id == sa.bindparam("store"))
_CHANGED = sa.select(categories).where(
    categories.c.store_id == sa.bindparam("store"),
    categories.c.version > sa.bindparam("since"),
)
_DELETED = sa.select(catalog_deletions.c.category_id).where(
    catalog_deletions.c.store_id == sa.bindparam("store"),
    catalog_deletions.c.version > sa.bindparam("since"),
)


class _Parents(Mapping[int, "int | None"]):
    """The parent of each category of a store, read one point query at a
    time as check_parent walks up: a move costs its depth, not the store."""

    def __init__(self, conn: sa.Connection, store_id: int) -> None:
        self.conn = conn
        self.store_id = store_id
        self.known: dict[int, int | None] = {}

    def _read(self, category_id: int) -> bool:
        if category_id not in self.known:
            row = self.conn.execute(
                sa.select(categories.c.parent_id).where(
                    categories.c.store_id == self.store_id, categories.c.id == category_id
                )
            ).first()
            if row is None:
                return False
            self.known[category_id] = row.parent_id
        return True

    def __contains__(self, category_id: object) -> bool:
        return isinstance(category_id, int) and self._read(category_id)

    def __getitem__(self, category_id: int) -> int | None:
        if not self._read(category_id):
            raise KeyError(category_id)
        return self.known[category_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


class SqlCatalog:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def _images_of(self, conn: sa.Connection, image_ids: list[int]) -> dict[int, Image]:
        if not image_ids:
            return {}
        rows = conn.execute(sa.select(images).where(images.c.id.in_(image_ids))).all()
        shown: dict[int, list[StoredFile]] = {r.id: [] for r in rows if r.pending_url is None}
        if shown:
            for row in conn.execute(
                sa.select(files).where(files.c.image_id.in_(list(shown))).order_by(files.c.id)
            ):
                shown[row.image_id].append(stored_file(row))
        result = {}
        for row in rows:
            result[row.id] = Image(
                id=row.id,
                store_id=row.store_id,
                files=tuple(shown.get(row.id, ())),
                border=row.border,
                pending_url=row.pending_url,
                pending_width=row.pending_width,
                pending_height=row.pending_height,
            )
        return result

    def _categories(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[Category]:
        rows = conn.execute(
            sa.select(categories).where(where).order_by(categories.c.order_by, categories.c.id)
        ).all()
        by_id = self._images_of(conn, [r.image_id for r in rows if r.image_id is not None])
        return [_category(r, by_id.get(r.image_id)) for r in rows]

    @translate_errors
    def list_categories(self, store_id: int) -> list[Category]:
        with self.db.read() as conn:
            return self._categories(conn, categories.c.store_id == store_id)

    @translate_errors
    def catalog_snapshot(
        self, store_id: int, known_version: int | None
    ) -> tuple[int, CatalogChanges | None]:
        """The store's catalog version, and what changed since ``known_version``
        (see interfaces.CatalogStore). A change is read by the version stamps
        of its rows, so its cost does not grow with the store."""
        if known_version is not None:  # the common case: one point read, no transaction
            row = self.db.one("SELECT catalog_version FROM stores WHERE id = ?", store_id)
            if row is not None and row[0] == known_version:
                return known_version, None
        with self.db.read() as conn, conn.begin():
            version = conn.execute(_VERSION, {"store": store_id}).scalar()
            if version is None or version == known_version:
                return version or 0, None
            if known_version is None or version - known_version > CHANGES_KEPT:
                whole = self._categories(conn, categories.c.store_id == store_id)
                return version, CatalogChanges(whole, complete=True)
            since = {"store": store_id, "since": known_version}
            rows = conn.execute(_CHANGED, since).all()
            found = self._images_of(conn, [r.image_id for r in rows if r.image_id is not None])
            changed = [_category(r, found.get(r.image_id)) for r in rows]
            deleted = list(conn.execute(_DELETED, since).scalars())
            return version, CatalogChanges(changed, deleted)

    @translate_errors
    def get_category(self, store_id: int, category_id: int) -> Category | None:
        with self.db.read() as conn:
            found = self._categories(
                conn, sa.and_(categories.c.store_id == store_id, categories.c.id == category_id)
            )
        return found[0] if found else None

    @translate_errors
    def create_category(self, store_id: int, changes: CategoryChanges) -> tuple[int, Consequences]:
        done = Consequences()
        with self.db.write(store_id) as conn:
            category_id = self._insert(conn, store_id, changes, _Parents(conn, store_id))
            record(conn, done, CREATED, store_id, category_id)
        return category_id, done

    @translate_errors
    def create_categories(
        self, store_id: int, rows: Sequence[CategoryChanges]
    ) -> tuple[list[int], Consequences]:
        done = Consequences()
        with self.db.write(store_id) as conn:
            parents = _Parents(conn, store_id)
            made = [self._insert(conn, store_id, changes, parents) for changes in rows]
            record(conn, done, CREATED, store_id, *made)
        return made, done

    def _insert(
        self, conn: sa.Connection, store_id: int, changes: CategoryChanges, parents: _Parents
    ) -> int:
        row = column_values({**_NEW, **changes.given()})
        if "name" not in row:
            raise BadRequest("Field 'name' is required")
        parent_id = row.setdefault("parent_id", None)
        check_parent(None, parent_id, parents)
        if row.get("order_by") is None:  # after its last sibling (an index walk)
            last = conn.execute(
                sa.select(sa.func.max(categories.c.order_by)).where(
                    categories.c.store_id == store_id,
                    categories.c.parent_id.is_(None)
                    if parent_id is None
                    else categories.c.parent_id == parent_id,
                )
            ).scalar()
            row["order_by"] = (last or 0) + 10
        stamp = now()
        category_id: int = conn.execute(
            categories.insert()
            .values(
                store_id=store_id,
                created_at=stamp,
                updated_at=stamp,
                version=conn.info["catalog_version"],
                **row,
            )
            .returning(categories.c.id)
        ).scalar_one()
        parents.known[category_id] = parent_id  # a later row may name it as its parent
        return category_id

    @translate_errors
    def update_category(
        self, store_id: int, category_id: int, changes: CategoryChanges
    ) -> Consequences | None:
        row = column_values(changes.given())
        done = Consequences()
        # The store's row, locked by the version bump, orders its writers: no
        # other move can interleave with the ancestor walk below.
        with self.db.write(store_id) as conn:
            parents = _Parents(conn, store_id)
            if category_id not in parents:
                return None
            if "parent_id" in row:  # checked here, in the transaction that moves it
                check_parent(category_id, row["parent_id"], parents)
            conn.execute(
                categories.update()
                .where(categories.c.id == category_id)
                .values(updated_at=now(), version=conn.info["catalog_version"], **row)
            )
            record(conn, done, UPDATED, store_id, category_id)
        return done

    @translate_errors
    def delete_category(self, store_id: int, category_id: int) -> Consequences | None:
        done = Consequences()
        with self.db.write(store_id) as conn:
            pairs = conn.execute(
                sa.select(categories.c.id, categories.c.parent_id).where(
                    categories.c.store_id == store_id
                )
            ).all()
            if not any(cid == category_id for cid, _ in pairs):
                return None
            children: dict[int | None, list[int]] = {}
            for cid, parent in pairs:
                children.setdefault(parent, []).append(cid)
            doomed = [category_id, *subtree(children, category_id)]
            image_ids = list(
                conn.execute(
                    sa.select(images.c.id).where(
                        images.c.store_id == store_id, images.c.category_id.in_(doomed)
                    )
                ).scalars()
            )
            delete_images(conn, image_ids, done)
            conn.execute(categories.delete().where(categories.c.id.in_(doomed)))
            forget(conn, doomed)
            record(conn, done, DELETED, store_id, *doomed)
        return done
