"""The console's sign-in codes in the SQL metadata database: kept as hashes,
each redeemed once, in the transaction that checks it, for a session token
that expires (interfaces.ConsoleSignIns)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from vitrina.backends.metadata.schema import signin_codes, tokens
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors
from vitrina.backends.metadata.sql_stores import token_info
from vitrina.domain.values import SignIn

# An expired code is kept this long, so that a late click hears "expired"
# rather than "unknown"; a used one also as long as the session it made.
KEPT_AFTER_EXPIRY = timedelta(days=1)


class SqlSignIns:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def add_code(
        self, store_id: int, code_hash: str, scopes: frozenset[str], expires_at: datetime
    ) -> None:
        at = now()
        session_alive = sa.exists().where(tokens.c.id == signin_codes.c.token_id)
        with self.db.write() as conn:
            conn.execute(tokens.delete().where(tokens.c.expires_at < at))
            conn.execute(
                signin_codes.delete().where(
                    signin_codes.c.expires_at < at - KEPT_AFTER_EXPIRY, ~session_alive
                )
            )
            conn.execute(
                signin_codes.insert().values(
                    code_hash=code_hash,
                    store_id=store_id,
                    scopes=",".join(sorted(scopes)),
                    created_at=at,
                    expires_at=expires_at,
                )
            )

    @translate_errors
    def redeem_code(
        self, store_id: int, code_hash: str, token_hash: str, hint: str, token_expires_at: datetime
    ) -> SignIn:
        with self.db.write() as conn:
            # the row stays locked until the commit: a second redemption of the
            # same code waits here, then finds it used
            code = conn.execute(
                self.db.lock(sa.select(signin_codes).where(signin_codes.c.code_hash == code_hash))
            ).first()
            if code is None or code.store_id != store_id:
                return SignIn("unknown")
            at = now()
            if code.used_at is not None:
                # someone else may hold the link: the session it opened ends
                if code.token_id is not None:
                    conn.execute(
                        tokens.update()
                        .where(tokens.c.id == code.token_id, tokens.c.revoked_at.is_(None))
                        .values(revoked_at=at)
                    )
                return SignIn("used")
            if aware(code.expires_at) <= at:
                return SignIn("expired")
            token = conn.execute(
                tokens.insert()
                .values(
                    store_id=store_id,
                    token_hash=token_hash,
                    kind="secret",
                    scopes=code.scopes,
                    hint=hint,
                    created_at=at,
                    expires_at=token_expires_at,
                )
                .returning(*tokens.c)
            ).one()
            conn.execute(
                signin_codes.update()
                .where(signin_codes.c.code_hash == code_hash)
                .values(used_at=at, token_id=token.id)
            )
        return SignIn("ok", token_info(token))
