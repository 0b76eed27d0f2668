"""The webhook outbox: the one place a committed change gets its events.

A write records what it changed with ``record``, inside its transaction. That
appends the change to the write's Consequences and, for every app of the
store that wants the event (it is installed, has a webhook URL, may read
the catalogue and asked for that event type, or for all), writes the event
and a delivery for the app in the same transaction. A change that commits always has its
events, one that rolls back has none; the deliveries are then sent by the
webhook worker (usecases/webhooks.py) from these rows.

The look-up of a store's apps is in every write, and the two inserts in
every write of a store with an app listening, so they are kept cheap:
written once as the driver's own SQL (SQLAlchemy's work per statement cost
as much as the insert) and, on SQLite, handed to the driver's own
connection (its execute costs a tenth of SQLAlchemy's around it; the
driver's errors are translated as SQLAlchemy would), into tables whose
indexes a pending delivery mostly leaves alone (schema.py).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from vitrina.backends.metadata.schema import apps, webhook_deliveries, webhook_events
from vitrina.backends.metadata.sql_base import now
from vitrina.domain.values import Consequences

# the scope an app needs to hear of a kind of event
_NEEDS = {"category": "read_catalog", "application": ""}


def wants(scopes: str, events: str, event: str) -> bool:
    """Whether an app with these scopes and event types (comma lists; no
    types: every one it may see) receives ``event``."""
    needed = _NEEDS.get(event.split(".", 1)[0], "")
    if needed and needed not in scopes.split(","):
        return False
    return not events or event in events.split(",")


# Built once: building them cost more than running them, on every write.
_APPS = sa.select(apps.c.id, apps.c.scopes, apps.c.events).where(
    apps.c.store_id == sa.bindparam("store"), apps.c.webhook_url != "", apps.c.deleted_at.is_(None)
)
_APPS_AMONG = _APPS.where(apps.c.id.in_(sa.bindparam("among", expanding=True)))
_EVENT_COLUMNS = ("event_id", "store_id", "entity_id", "event_type", "created")
_DELIVERY_COLUMNS = (
    *("event", "app_id", "store_id", "state", "attempts"),
    *("due_at", "created_at", "updated_at", "last_error"),
)


class _DriverSql:
    """A statement written once for a dialect, executed as the driver's SQL
    with its parameters in the driver's style (positional or named)."""

    def __init__(self, sql: str, columns: tuple[str, ...], dialect: Any):
        style = dialect.paramstyle
        self._named = style in ("named", "pyformat")
        if style == "pyformat":
            marks = [f"%({c})s" for c in columns]
        else:
            marks = [f":{c}" if self._named else "?" for c in columns]
        self.sql = sql.format(*marks)
        self._columns = columns
        self._sqlite = dialect.name == "sqlite"
        stamp = sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
        self.stamp: Callable[[Any], Any] = stamp or (lambda value: value)

    @classmethod
    def insert(
        cls, table: sa.Table, columns: tuple[str, ...], returning: str, dialect: Any
    ) -> _DriverSql:
        marks = ", ".join("{}" for _ in columns)
        # the names are this module's constants; every value is a parameter
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        return cls(sql + (f" RETURNING {returning}" if returning else ""), columns, dialect)

    def params(self, values: dict[str, Any]) -> Any:
        return values if self._named else tuple(values[c] for c in self._columns)

    def run(self, conn: sa.Connection, values: dict[str, Any]) -> list[Any]:
        """The rows it answers."""
        params = self.params(values)
        if not self._sqlite:
            return list(conn.exec_driver_sql(self.sql, params))
        driver: Any = conn.connection.driver_connection  # in this transaction
        try:
            rows: list[Any] = driver.execute(self.sql, params).fetchall()
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(self.sql, params, exc, sqlite3.Error) from exc
        return rows

    def run_many(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        params = [self.params(values) for values in rows]
        if not self._sqlite:
            conn.exec_driver_sql(self.sql, params)
            return
        driver: Any = conn.connection.driver_connection  # in this transaction
        try:
            driver.executemany(self.sql, params)
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(self.sql, params, exc, sqlite3.Error) from exc


class _Statements:
    def __init__(self, dialect: Any) -> None:
        self.installed_apps = _DriverSql(
            "SELECT id, scopes, events FROM apps WHERE store_id = {} AND webhook_url != ''"
            " AND deleted_at IS NULL AND installed_at IS NOT NULL",
            ("store",),
            dialect,
        )
        self.event = _DriverSql.insert(webhook_events, _EVENT_COLUMNS, "id", dialect)
        self.deliveries = _DriverSql.insert(webhook_deliveries, _DELIVERY_COLUMNS, "", dialect)


_BY_DIALECT: dict[str, _Statements] = {}


def _statements(dialect: Any) -> _Statements:
    found = _BY_DIALECT.get(dialect.name)
    if found is None:
        found = _BY_DIALECT[dialect.name] = _Statements(dialect)
    return found


def record(
    conn: sa.Connection,
    done: Consequences,
    event: str,
    store_id: int,
    *entity_ids: int,
    app_ids: tuple[int, ...] | None = None,
) -> None:
    """Record that this transaction changed ``entity_ids`` (``event`` tells
    how): in the write's consequences, and as events for the apps that want
    them (``app_ids``: only these apps, as an app's own install events)."""
    done.changed(event, store_id, *entity_ids)
    sql = _statements(conn.dialect)
    found: Any
    if app_ids is None:  # a change in the store: its installed apps hear of it
        found = sql.installed_apps.run(conn, {"store": store_id})
    else:  # an app's own install events
        found = conn.execute(_APPS_AMONG, {"store": store_id, "among": list(app_ids)})
    wanting = [app_id for app_id, scopes, events in found if wants(scopes, events, event)]
    if not wanting:
        return
    stamp, created = sql.deliveries.stamp(now()), int(time.time())
    for entity_id in entity_ids:
        row = {
            "event_id": str(uuid.uuid4()),
            "store_id": store_id,
            "entity_id": entity_id,
            "event_type": event,
            "created": created,
        }
        [(event_row,)] = sql.event.run(conn, row)
        deliveries = [
            {
                "event": event_row,
                "app_id": app_id,
                "store_id": store_id,
                "state": "pending",
                "attempts": 0,
                "due_at": stamp,
                "created_at": stamp,
                "updated_at": stamp,
                "last_error": "",
            }
            for app_id in wanting
        ]
        sql.deliveries.run_many(conn, deliveries)
