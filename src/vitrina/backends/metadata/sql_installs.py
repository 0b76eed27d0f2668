"""Installing apps by OAuth, in the SQL metadata database (seams.AppInstalls).

An authorization code is a row (its SHA-256 hash, the app, the store, the
scopes granted, the redirect URI, an expiry, when it was used). Install
writes the code, stamps the app installed and records
``application.installed`` in one transaction (sql_outbox); the exchange
checks the code and marks it used in the transaction that adds its tokens,
with the row locked on PostgreSQL (SQLite's write transaction excludes other
writers), so two exchanges at once give one set of tokens and one refusal.
A second exchange revokes the tokens the first one issued (``tokens.grant_code``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import apps, oauth_codes, tokens
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors
from vitrina.backends.metadata.sql_outbox import record
from vitrina.domain.values import (
    APPLICATION_INSTALLED,
    APPLICATION_UNINSTALLED,
    Consequences,
    Grant,
    NewToken,
)

# A code is kept this long after its expiry, so that a late second exchange
# still finds it used (and revokes what it gave) rather than unknown.
KEPT_AFTER_EXPIRY = timedelta(days=1)
PUBLIC_SCOPE = "public_storefront"


def _lock_app(
    conn: sa.Connection, db: SqlDatabase, store_id: int | None, app_id: int, installed: bool
) -> sa.Row[Any] | None:
    """The app's row if it is there (not deleted; installed, if asked), locked
    on PostgreSQL. Every write here takes the app's row first, as deleting
    an app does, so a token added for an app while it is deleted or
    uninstalled is revoked by that, or refused: never left working."""
    query = sa.select(apps.c.id, apps.c.store_id, apps.c.installed_at).where(
        apps.c.id == app_id, apps.c.deleted_at.is_(None)
    )
    if store_id is not None:
        query = query.where(apps.c.store_id == store_id)
    if installed:
        query = query.where(apps.c.installed_at.is_not(None))
    row: sa.Row[Any] | None = conn.execute(db.lock(query)).first()
    return row


class SqlInstalls:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def grant_code(
        self,
        store_id: int,
        app_id: int,
        code_hash: str,
        scopes: frozenset[str],
        redirect_uri: str,
        expires_at: datetime,
    ) -> Consequences | None:
        done = Consequences()
        at = now()
        with self.db.write() as conn:
            if _lock_app(conn, self.db, store_id, app_id, installed=False) is None:
                return None
            conn.execute(
                oauth_codes.delete().where(oauth_codes.c.expires_at < at - KEPT_AFTER_EXPIRY)
            )
            conn.execute(
                oauth_codes.insert().values(
                    code_hash=code_hash,
                    app_id=app_id,
                    store_id=store_id,
                    scopes=",".join(sorted(scopes)),
                    redirect_uri=redirect_uri,
                    created_at=at,
                    expires_at=expires_at,
                )
            )
            conn.execute(apps.update().where(apps.c.id == app_id).values(installed_at=at))
            record(conn, done, APPLICATION_INSTALLED, store_id, app_id, app_ids=(app_id,))
        return done

    @translate_errors
    def redeem_code(
        self,
        app_id: int,
        code_hash: str,
        redirect_uri: str,
        secret: NewToken,
        public: NewToken,
        at: datetime,
    ) -> Grant:
        with self.db.write() as conn:
            if _lock_app(conn, self.db, None, app_id, installed=False) is None:
                return Grant("unknown")  # deleted: its tokens were revoked then
            # locked until the commit: a second exchange at once waits, then finds it used
            code = conn.execute(
                self.db.lock(sa.select(oauth_codes).where(oauth_codes.c.code_hash == code_hash))
            ).first()
            if code is None or code.app_id != app_id:
                return Grant("unknown")
            if code.used_at is not None:
                # someone else may hold the code: what it gave stops working
                revoked = conn.execute(
                    tokens.update()
                    .where(tokens.c.grant_code == code_hash, tokens.c.revoked_at.is_(None))
                    .values(revoked_at=at)
                ).rowcount
                return Grant("used", code.store_id, revoked=revoked)
            if aware(code.expires_at) <= at:
                return Grant("expired", code.store_id)
            if code.redirect_uri != redirect_uri:
                return Grant("redirect", code.store_id)
            scopes = frozenset(s for s in code.scopes.split(",") if s)
            issued = [(secret, "secret", scopes)]
            if PUBLIC_SCOPE in scopes:
                issued.append((public, "public", frozenset({"read_catalog"})))
            for token, kind, granted in issued:
                conn.execute(
                    tokens.insert().values(
                        store_id=code.store_id,
                        token_hash=token.token_hash,
                        kind=kind,
                        scopes=",".join(sorted(granted)),
                        hint=token.hint,
                        created_at=at,
                        app_id=app_id,
                        grant_code=code_hash,
                    )
                )
            conn.execute(
                oauth_codes.update().where(oauth_codes.c.code_hash == code_hash).values(used_at=at)
            )
        return Grant("ok", code.store_id, scopes)

    @translate_errors
    def uninstall(self, store_id: int, app_id: int) -> Consequences | None:
        done = Consequences()
        at = now()
        with self.db.write() as conn:
            if _lock_app(conn, self.db, store_id, app_id, installed=True) is None:
                return None
            conn.execute(
                tokens.update()
                .where(tokens.c.app_id == app_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            conn.execute(
                oauth_codes.delete().where(
                    oauth_codes.c.app_id == app_id, oauth_codes.c.used_at.is_(None)
                )
            )
            conn.execute(apps.update().where(apps.c.id == app_id).values(installed_at=None))
            record(conn, done, APPLICATION_UNINSTALLED, store_id, app_id, app_ids=(app_id,))
        return done

    @translate_errors
    def add_page_tokens(
        self,
        store_id: int,
        app_id: int,
        issued: Sequence[tuple[NewToken, str, frozenset[str]]],
        expires_at: datetime,
    ) -> bool:
        at = now()
        with self.db.write() as conn:
            if _lock_app(conn, self.db, store_id, app_id, installed=True) is None:
                return False
            # session tokens past their expiry go, as a new console sign-in does
            conn.execute(tokens.delete().where(tokens.c.expires_at < at))
            for token, kind, scopes in issued:
                conn.execute(
                    tokens.insert().values(
                        store_id=store_id,
                        token_hash=token.token_hash,
                        kind=kind,
                        scopes=",".join(sorted(scopes)),
                        hint=token.hint,
                        created_at=at,
                        expires_at=expires_at,
                        app_id=app_id,
                    )
                )
        return True
