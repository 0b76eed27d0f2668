"""The metadata store over SQLAlchemy Core: one class for SQLite and PostgreSQL.

Stores, tokens and categories live here; images and async jobs in
``sql_images``. Every write runs in one transaction; on SQLite it is opened
with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from vitrina.catalog import check_parent
from vitrina.errors import CategoryNotFound, MetadataUnavailable, VitrinaError
from vitrina.interfaces import Category, Image, Store, StoredFile, TokenInfo
from vitrina.metadata.engine import create_reader
from vitrina.metadata.schema import categories, files, images, jobs, stores, tokens
from vitrina.naming import file_key

P = ParamSpec("P")
R = TypeVar("R")

_CATEGORY_DEFAULTS: dict[str, Any] = {
    "name_translated": {},
    "description": "",
    "description_translated": {},
    "enabled": True,
    "product_ids": [],
    "custom_slug": "",
    "seo_title": "",
    "seo_title_translated": {},
    "seo_description": "",
    "seo_description_translated": {},
    "alt_main": "",
    "alt_translated": {},
}


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """No SQLAlchemy or driver exception leaves the store."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(cause).__name__})"
            ) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise VitrinaError("The metadata database refused the operation") from exc

    return wrapper


class SqlBase:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._reader = create_reader(engine)

    def close(self) -> None:
        self._reader.dispose()

    def _one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        """One row of a single-statement read, straight through the driver.
        ``sql`` uses ``?`` placeholders."""
        if not self._sqlite:
            sql = sql.replace("?", "%s")
        raw = self._reader.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql, params)
            row = cursor.fetchone()
            cursor.close()
        except Exception as exc:
            raw.invalidate()
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(exc).__name__})"
            ) from exc
        finally:
            raw.close()
        return tuple(row) if row is not None else None

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, store_id: int | None = None) -> Iterator[sa.Connection]:
        """A write transaction. Naming the store bumps its catalog version first,
        which tells every process's read cache that the store changed (and, on
        PostgreSQL, orders the store's writers on its row)."""
        with self.engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(vitrina_begin="IMMEDIATE")
            with conn.begin():
                if store_id is not None:
                    conn.execute(
                        stores.update()
                        .where(stores.c.id == store_id)
                        .values(catalog_version=stores.c.catalog_version + 1)
                    )
                yield conn

    def _lock(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """Row locks on PostgreSQL; SQLite's write transaction already excludes."""
        return query if self._sqlite else query.with_for_update()


def _store(row: sa.Row[Any]) -> Store:
    return Store(
        id=row.id,
        name=row.name,
        storefront_url=row.storefront_url,
        thumbnail_size=row.thumbnail_size,
        image_size=row.image_size,
        languages=tuple(row.languages.split(",")),
    )


def _token(row: sa.Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        store_id=row.store_id,
        kind=row.kind,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        hint=row.hint,
        created_at=aware(row.created_at),
        revoked=row.revoked_at is not None,
    )


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
    )


def stored_file(row: sa.Row[Any]) -> StoredFile:
    return StoredFile(
        id=row.id,
        role=row.role,
        ext=row.ext,
        content_type=row.content_type,
        width=row.width,
        height=row.height,
        size=row.size,
        etag=row.etag,
    )


class CatalogQueries(SqlBase):
    @translate_errors
    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(sa.select(1))

    # -- stores and tokens ------------------------------------------------

    @translate_errors
    def create_store(
        self,
        name: str,
        storefront_url: str,
        thumbnail_size: int = 400,
        image_size: int = 1200,
        languages: tuple[str, ...] = ("en",),
    ) -> Store:
        with self._write() as conn:
            row = conn.execute(
                stores.insert()
                .values(
                    name=name,
                    storefront_url=storefront_url,
                    thumbnail_size=thumbnail_size,
                    image_size=image_size,
                    languages=",".join(languages),
                    created_at=now(),
                )
                .returning(*stores.c)
            ).one()
        return _store(row)

    @translate_errors
    def get_store(self, store_id: int) -> Store | None:
        with self._read() as conn:
            row = conn.execute(sa.select(stores).where(stores.c.id == store_id)).first()
        return _store(row) if row else None

    @translate_errors
    def list_stores(self) -> list[Store]:
        with self._read() as conn:
            return [_store(r) for r in conn.execute(sa.select(stores).order_by(stores.c.id))]

    @translate_errors
    def add_token(
        self, store_id: int, token_hash: str, kind: str, scopes: frozenset[str], hint: str
    ) -> TokenInfo:
        with self._write() as conn:
            row = conn.execute(
                tokens.insert()
                .values(
                    store_id=store_id,
                    token_hash=token_hash,
                    kind=kind,
                    scopes=",".join(sorted(scopes)),
                    hint=hint,
                    created_at=now(),
                )
                .returning(*tokens.c)
            ).one()
        return _token(row)

    @translate_errors
    def find_token(self, token_hash: str) -> TokenInfo | None:
        with self._read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash)).first()
        return _token(row) if row else None

    @translate_errors
    def revoke_token(self, token_hash: str) -> bool:
        with self._write() as conn:
            result = conn.execute(
                tokens.update()
                .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
        return result.rowcount > 0

    @translate_errors
    def list_tokens(self, store_id: int) -> list[TokenInfo]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(tokens).where(tokens.c.store_id == store_id).order_by(tokens.c.id)
            )
            return [_token(r) for r in rows]

    # -- categories -------------------------------------------------------

    def _images_of(self, conn: sa.Connection, image_ids: list[int]) -> dict[int, Image]:
        if not image_ids:
            return {}
        found: dict[int, list[StoredFile]] = {i: [] for i in image_ids}
        for row in conn.execute(
            sa.select(files).where(files.c.image_id.in_(image_ids)).order_by(files.c.id)
        ):
            found[row.image_id].append(stored_file(row))
        result = {}
        for row in conn.execute(sa.select(images).where(images.c.id.in_(image_ids))):
            result[row.id] = Image(
                id=row.id,
                store_id=row.store_id,
                files=tuple(found[row.id]),
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
        with self._read() as conn:
            return self._categories(conn, categories.c.store_id == store_id)

    @property
    def local_reads(self) -> bool:
        """Whether a point read is a local file access (SQLite), not a network call."""
        return self._sqlite

    def catalog_version(self, store_id: int) -> int | None:
        row = self._one("SELECT catalog_version FROM stores WHERE id = ?", store_id)
        return int(row[0]) if row else None

    @translate_errors
    def catalog_snapshot(
        self, store_id: int, known_version: int | None
    ) -> tuple[int, list[Category] | None]:
        """The store's catalog version, and its categories unless the caller's
        copy is of that version already."""
        if known_version is not None:
            row = self._one("SELECT catalog_version FROM stores WHERE id = ?", store_id)
            if row is not None and row[0] == known_version:
                return known_version, None
        with self._read() as conn, conn.begin():
            version = conn.execute(
                sa.select(stores.c.catalog_version).where(stores.c.id == store_id)
            ).scalar()
            if version is None or version == known_version:
                return version or 0, None
            return version, self._categories(conn, categories.c.store_id == store_id)

    @translate_errors
    def get_category(self, store_id: int, category_id: int) -> Category | None:
        with self._read() as conn:
            found = self._categories(
                conn, sa.and_(categories.c.store_id == store_id, categories.c.id == category_id)
            )
        return found[0] if found else None

    def _check_parent(self, conn: sa.Connection, store_id: int, parent_id: int) -> None:
        exists = conn.execute(
            sa.select(categories.c.id).where(
                categories.c.store_id == store_id, categories.c.id == parent_id
            )
        ).first()
        if not exists:
            raise CategoryNotFound(parent_id)

    @translate_errors
    def create_category(self, store_id: int, values: Mapping[str, Any]) -> int:
        row = {**_CATEGORY_DEFAULTS, **values}
        row["product_ids"] = list(row["product_ids"])
        with self._write(store_id) as conn:
            parent_id = row.get("parent_id")
            if parent_id is not None:
                self._check_parent(conn, store_id, parent_id)
            if row.get("order_by") is None:
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
                .values(store_id=store_id, created_at=stamp, updated_at=stamp, **row)
                .returning(categories.c.id)
            ).scalar_one()
        return category_id

    @translate_errors
    def update_category(self, store_id: int, category_id: int, values: Mapping[str, Any]) -> bool:
        row = dict(values)
        if "product_ids" in row:
            row["product_ids"] = list(row["product_ids"])
        with self._write(store_id) as conn:
            rows = conn.execute(
                self._lock(
                    sa.select(categories.c.id, categories.c.parent_id).where(
                        categories.c.store_id == store_id
                    )
                )
            ).all()
            parents: dict[int, int | None] = {row.id: row.parent_id for row in rows}
            if category_id not in parents:
                return False
            if "parent_id" in row:  # checked here, in the transaction that moves it
                check_parent(category_id, row["parent_id"], parents)
            conn.execute(
                categories.update()
                .where(categories.c.id == category_id)
                .values(updated_at=now(), **row)
            )
        return True

    @translate_errors
    def delete_category(self, store_id: int, category_id: int) -> list[str] | None:
        with self._write(store_id) as conn:
            pairs = conn.execute(
                sa.select(categories.c.id, categories.c.parent_id).where(
                    categories.c.store_id == store_id
                )
            ).all()
            children: dict[int | None, list[int]] = {}
            for cid, parent in pairs:
                children.setdefault(parent, []).append(cid)
            if not any(cid == category_id for cid, _ in pairs):
                return None
            doomed, queue = [], [category_id]
            while queue:
                cid = queue.pop()
                doomed.append(cid)
                queue.extend(children.get(cid, ()))
            image_ids = list(
                conn.execute(
                    sa.select(images.c.id).where(
                        images.c.store_id == store_id, images.c.category_id.in_(doomed)
                    )
                ).scalars()
            )
            keys = self._delete_images(conn, image_ids)
            conn.execute(categories.delete().where(categories.c.id.in_(doomed)))
        return keys

    def _delete_images(self, conn: sa.Connection, image_ids: list[int]) -> list[str]:
        if not image_ids:
            return []
        keys = [
            file_key(r.store_id, r.id, r.ext)
            for r in conn.execute(sa.select(files).where(files.c.image_id.in_(image_ids)))
        ]
        conn.execute(files.delete().where(files.c.image_id.in_(image_ids)))
        conn.execute(images.delete().where(images.c.id.in_(image_ids)))
        # an async upload for a removed image has nothing waiting for it
        conn.execute(
            jobs.update()
            .where(jobs.c.image_id.in_(image_ids), jobs.c.state.in_(("queued", "running")))
            .values(
                state="cancelled",
                lease_until=None,
                last_error="cancelled: the image was replaced or deleted before it was ready",
                updated_at=now(),
            )
        )
        return keys
