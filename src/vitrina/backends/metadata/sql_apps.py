"""A store's apps in the SQL metadata database. Deleting an app revokes the
tokens issued to it and drops its undelivered events; an uninstall event
for the app itself is recorded in that transaction (sql_outbox), and the app
stays behind its ``deleted_at`` until that event is delivered (then the
webhook pruning removes it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import apps, oauth_codes, tokens, webhook_deliveries
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors
from vitrina.backends.metadata.sql_outbox import record
from vitrina.domain.values import (
    APPLICATION_INSTALLED,
    APPLICATION_UNINSTALLED,
    App,
    AppChanges,
    Consequences,
)

# Each field an app write may set, and how its column holds it.
_COLUMNS: dict[str, sa.Column[Any]] = {
    "name": apps.c.name,
    "scopes": apps.c.scopes,
    "webhook_url": apps.c.webhook_url,
    "events": apps.c.events,
    "redirect_uri": apps.c.redirect_uri,
    "iframe_url": apps.c.iframe_url,
}


def _values(changes: AppChanges) -> dict[str, Any]:
    values = {}
    for name, value in changes.given().items():
        if name in ("scopes", "events"):
            value = ",".join(sorted(value)) if name == "scopes" else ",".join(value)
        values[_COLUMNS[name].key] = value
    return values


def _app(row: sa.Row[Any]) -> App:
    return App(
        id=row.id,
        store_id=row.store_id,
        name=row.name,
        client_id=row.client_id,
        client_secret=row.client_secret,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        webhook_url=row.webhook_url,
        events=tuple(e for e in row.events.split(",") if e),
        redirect_uri=row.redirect_uri,
        iframe_url=row.iframe_url,
        created_at=aware(row.created_at),
        installed_at=aware(row.installed_at) if row.installed_at is not None else None,
    )


class SqlApps:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def create_app(
        self, store_id: int, name: str, client_id: str, client_secret: str, changes: AppChanges
    ) -> tuple[App, Consequences]:
        done = Consequences()
        stamp = now()
        with self.db.write() as conn:
            row = conn.execute(
                apps.insert()
                .values(
                    store_id=store_id,
                    client_id=client_id,
                    client_secret=client_secret,
                    created_at=stamp,
                    updated_at=stamp,
                    # made by the store's owner in the store: installed there
                    installed_at=stamp,
                    **{"name": name, "scopes": "", **_values(changes)},
                )
                .returning(*apps.c)
            ).one()
            app = _app(row)
            record(conn, done, APPLICATION_INSTALLED, store_id, app.id, app_ids=(app.id,))
        return app, done

    @translate_errors
    def list_apps(self, store_id: int) -> list[App]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(apps)
                .where(apps.c.store_id == store_id, apps.c.deleted_at.is_(None))
                .order_by(apps.c.id)
            )
            return [_app(r) for r in rows]

    @translate_errors
    def get_app(self, store_id: int, app_id: int) -> App | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(apps).where(
                    apps.c.store_id == store_id, apps.c.id == app_id, apps.c.deleted_at.is_(None)
                )
            ).first()
        return _app(row) if row else None

    @translate_errors
    def find_app(self, client_id: str) -> App | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(apps).where(apps.c.client_id == client_id, apps.c.deleted_at.is_(None))
            ).first()
        return _app(row) if row else None

    @translate_errors
    def update_app(self, store_id: int, app_id: int, changes: AppChanges) -> App | None:
        with self.db.write() as conn:
            row = conn.execute(
                apps.update()
                .where(
                    apps.c.store_id == store_id, apps.c.id == app_id, apps.c.deleted_at.is_(None)
                )
                .values(updated_at=now(), **_values(changes))
                .returning(*apps.c)
            ).first()
        return _app(row) if row else None

    @translate_errors
    def delete_app(self, store_id: int, app_id: int) -> Consequences | None:
        done = Consequences()
        with self.db.write() as conn:
            # the app's row first, as the OAuth writes take it (sql_installs)
            found = conn.execute(
                self.db.lock(
                    sa.select(apps.c.id, apps.c.installed_at).where(
                        apps.c.store_id == store_id,
                        apps.c.id == app_id,
                        apps.c.deleted_at.is_(None),
                    )
                )
            ).first()
            if found is None:
                return None
            if found.installed_at is not None:
                # its last event, before it goes: the app hears of its uninstall
                # (an app uninstalled before has heard it then)
                record(conn, done, APPLICATION_UNINSTALLED, store_id, app_id, app_ids=(app_id,))
            stamp = now()
            conn.execute(oauth_codes.delete().where(oauth_codes.c.app_id == app_id))
            conn.execute(
                tokens.update()
                .where(tokens.c.app_id == app_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=stamp)
            )
            # deliveries still waiting go, but the uninstall just recorded
            conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.app_id == app_id,
                    webhook_deliveries.c.state.in_(("pending", "sending")),
                    webhook_deliveries.c.id.not_in(
                        sa.select(sa.func.max(webhook_deliveries.c.id)).where(
                            webhook_deliveries.c.app_id == app_id
                        )
                    ),
                )
                .values(state="failed", last_error="the app was deleted", updated_at=stamp)
            )
            conn.execute(apps.update().where(apps.c.id == app_id).values(deleted_at=stamp))
        return done
