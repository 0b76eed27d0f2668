"""The webhook outbox: the one place a committed change gets its events.

A write records what it changed with ``record``, inside its transaction. That
appends the change to the write's Consequences and, for every app of the
store that wants the event (it is installed, has a webhook URL, may read
the catalogue and asked for that event type, or for all), writes the event
and a delivery for the app in the same transaction. A change that commits always has its
events, one that rolls back has none; the deliveries are then sent by the
webhook worker (usecases/webhooks.py) from these rows.
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

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
_INSTALLED_APPS = _APPS.where(apps.c.installed_at.is_not(None))  # uninstalled: no more
_EVENT = webhook_events.insert().returning(webhook_events.c.id)
_DELIVERY = webhook_deliveries.insert()


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
    if app_ids is None:  # a change in the store: its installed apps hear of it
        found = conn.execute(_INSTALLED_APPS, {"store": store_id})
    else:  # an app's own install events
        found = conn.execute(_APPS_AMONG, {"store": store_id, "among": list(app_ids)})
    wanting = [a.id for a in found if wants(a.scopes, a.events, event)]
    if not wanting:
        return
    stamp, created = now(), int(time.time())
    for entity_id in entity_ids:
        event_row = conn.execute(
            _EVENT,
            {
                "event_id": str(uuid.uuid4()),
                "store_id": store_id,
                "entity_id": entity_id,
                "event_type": event,
                "created": created,
            },
        ).scalar_one()
        conn.execute(
            _DELIVERY,
            [
                {
                    "event": event_row,
                    "app_id": app_id,
                    "store_id": store_id,
                    "state": "pending",
                    "attempts": 0,
                    "due_at": stamp,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for app_id in wanting
            ],
        )
