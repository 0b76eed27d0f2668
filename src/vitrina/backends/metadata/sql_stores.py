"""Stores and their API tokens in the SQL metadata database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vitrina.backends.metadata.schema import rate_counts, stores, tokens
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors
from vitrina.domain.values import Store, TokenInfo

# In a new store's storefront URL, replaced by the store's id when it is
# created: `vitrina store create` (and demo) default to <public URL>/store/{storeId},
# so that each store has pages of its own.
STORE_ID = "{storeId}"


def _store(row: sa.Row[Any]) -> Store:
    return Store(
        id=row.id,
        name=row.name,
        storefront_url=row.storefront_url,
        thumbnail_size=row.thumbnail_size,
        image_size=row.image_size,
        languages=tuple(row.languages.split(",")),
    )


def token_info(row: sa.Row[Any]) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        store_id=row.store_id,
        kind=row.kind,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        hint=row.hint,
        created_at=aware(row.created_at),
        revoked=row.revoked_at is not None,
        expires_at=aware(row.expires_at) if row.expires_at is not None else None,
    )


class SqlStores:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def create_store(
        self,
        name: str,
        storefront_url: str,
        thumbnail_size: int = 400,
        image_size: int = 1200,
        languages: tuple[str, ...] = ("en",),
    ) -> Store:
        with self.db.write() as conn:
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
            if STORE_ID in storefront_url:
                row = conn.execute(
                    stores.update()
                    .where(stores.c.id == row.id)
                    .values(storefront_url=storefront_url.replace(STORE_ID, str(row.id)))
                    .returning(*stores.c)
                ).one()
        return _store(row)

    @translate_errors
    def get_store(self, store_id: int) -> Store | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(stores).where(stores.c.id == store_id)).first()
        return _store(row) if row else None

    @translate_errors
    def list_stores(self) -> list[Store]:
        with self.db.read() as conn:
            return [_store(r) for r in conn.execute(sa.select(stores).order_by(stores.c.id))]

    @translate_errors
    def add_token(
        self, store_id: int, token_hash: str, kind: str, scopes: frozenset[str], hint: str
    ) -> TokenInfo:
        with self.db.write() as conn:
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
        return token_info(row)

    @translate_errors
    def find_token(self, token_hash: str) -> TokenInfo | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash)).first()
        return token_info(row) if row else None

    @translate_errors
    def revoke_token(self, token_hash: str) -> bool:
        with self.db.write() as conn:
            result = conn.execute(
                tokens.update()
                .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now())
            )
        return result.rowcount > 0

    @translate_errors
    def list_tokens(self, store_id: int) -> list[TokenInfo]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(tokens).where(tokens.c.store_id == store_id).order_by(tokens.c.id)
            )
            return [token_info(r) for r in rows]

    @translate_errors
    def count_request(self, token_hash: str, window: int) -> int:
        insert = sqlite_insert if self.db.sqlite else postgresql_insert
        upsert = (
            insert(rate_counts)
            .values(token_hash=token_hash, window=window, count=1)
            .on_conflict_do_update(
                index_elements=[rate_counts.c.token_hash, rate_counts.c.window],
                set_={"count": rate_counts.c.count + 1},
            )
            .returning(rate_counts.c.count)
        )
        with self.db.write(bookkeeping=True) as conn:
            count: int = conn.execute(upsert).scalar_one()
            if count == 1:  # this token's first request of the minute: drop its older ones
                conn.execute(
                    rate_counts.delete().where(
                        rate_counts.c.token_hash == token_hash, rate_counts.c.window < window
                    )
                )
        return count
