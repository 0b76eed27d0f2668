"""Which webhook deliveries a sender claims next, and the statements that
claim them, record their outcomes and give back what was not sent, built
once (sql_webhooks.py says how claims work; building the loose index scan
took longer than running it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import apps, webhook_deliveries, webhook_events
from vitrina.backends.metadata.sql_base import waiting

PER_APP = 4  # claims of one app being sent at once (by as many workers), at most


WITH_EVENT = sa.select(
    webhook_deliveries,
    webhook_events.c.event_id,
    webhook_events.c.entity_id,
    webhook_events.c.event_type,
    webhook_events.c.created,
).join(webhook_events, webhook_events.c.id == webhook_deliveries.c.event)


Stamp = datetime | sa.BindParameter[datetime]


def claimable(stamp: Stamp) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(webhook_deliveries.c.state == "pending", webhook_deliveries.c.due_at <= stamp),
        sa.and_(webhook_deliveries.c.state == "sending", webhook_deliveries.c.lease_until < stamp),
    )


def expired(stamp: Stamp) -> sa.Select[tuple[int]]:
    """A delivery whose worker's lease ran out."""
    d = webhook_deliveries
    return (
        sa.select(d.c.id)
        .where(d.c.state == "sending", d.c.lease_until < stamp)
        .order_by(d.c.lease_until)
        .limit(1)
    )


def claims(sending: sa.FromClause, app_id: Any, stamp: Stamp) -> sa.ScalarSelect[int]:
    """How many claims (one per worker) of the app are being sent."""
    return (
        sa.select(sa.func.count(sa.distinct(sending.c.worker)))
        .where(
            sending.c.state == "sending",
            sending.c.app_id == app_id,
            sending.c.lease_until >= stamp,
        )
        .scalar_subquery()
    )


def fairest(stamp: Stamp) -> sa.Select[tuple[int, int]]:
    """The oldest due delivery of the app with the fewest claims being sent
    (under PER_APP), and the app: the apps with deliveries pending are
    walked by a loose index scan, each one's oldest due delivery is one more
    index lookup."""
    d = webhook_deliveries
    apps_waiting = waiting(d, "app_id", "pending")
    oldest = (
        sa.select(d.c.id)
        .where(d.c.state == "pending", d.c.app_id == apps_waiting.c.app_id, d.c.due_at <= stamp)
        .order_by(d.c.due_at, d.c.id)
        .limit(1)
        .scalar_subquery()
    )
    busy = claims(d.alias("sending"), apps_waiting.c.app_id, stamp)
    candidates = (
        sa.select(oldest.label("id"), busy.label("busy"))
        .where(apps_waiting.c.app_id.is_not(None))
        .subquery()
    )
    chosen = d.alias("chosen")
    return (
        sa.select(candidates.c.id, chosen.c.app_id)
        .join(chosen, chosen.c.id == candidates.c.id)
        .where(candidates.c.busy < PER_APP)
        .order_by(candidates.c.busy, chosen.c.due_at, chosen.c.id)
        .limit(1)
    )


# The claim's statements, built once: building the loose index scan took
# longer than running it (about 2 ms a claim).
STAMP: sa.BindParameter[datetime] = sa.bindparam("stamp", type_=sa.DateTime(timezone=True))
MOST = sa.bindparam("most", type_=sa.Integer)
FAIR = fairest(STAMP).subquery("fair")
ONE = sa.select(sa.literal(1).label("one")).subquery("one")
LAPSED = expired(STAMP).subquery("lapsed")
LAPSED_APP = webhook_deliveries.alias("lapsed_app")
# one round trip: a lapsed claim's app to take over, else the fairest app
PICK = (
    sa.select(LAPSED_APP.c.app_id.label("lapsed"), FAIR.c.app_id)
    .select_from(ONE)
    .outerjoin(LAPSED, sa.true())
    .outerjoin(LAPSED_APP, LAPSED_APP.c.id == LAPSED.c.id)
    .outerjoin(FAIR, sa.true())
)
# the app's deliveries whose leases ran out, oldest lease first
LAPSED_OF_APP = (
    sa.select(webhook_deliveries.c.id)
    .where(
        webhook_deliveries.c.state == "sending",
        webhook_deliveries.c.app_id == sa.bindparam("app"),
        webhook_deliveries.c.lease_until < STAMP,
    )
    .order_by(webhook_deliveries.c.lease_until, webhook_deliveries.c.id)
    .limit(MOST)
)
# the app's oldest due deliveries, while it has fewer than PER_APP claims out
DUE_OF_APP = (
    sa.select(webhook_deliveries.c.id)
    .where(
        webhook_deliveries.c.state == "pending",
        webhook_deliveries.c.app_id == sa.bindparam("app"),
        webhook_deliveries.c.due_at <= STAMP,
        claims(webhook_deliveries.alias("sending"), sa.bindparam("app"), STAMP) < PER_APP,
    )
    .order_by(webhook_deliveries.c.due_at, webhook_deliveries.c.id)
    .limit(MOST)
)
CHOSEN: sa.BindParameter[list[int]] = sa.bindparam("chosen", expanding=True)
CLAIM = (
    webhook_deliveries.update()
    .where(webhook_deliveries.c.id.in_(CHOSEN), claimable(STAMP))
    .values(
        state="sending",
        attempts=webhook_deliveries.c.attempts + 1,
        lease_until=sa.bindparam("lease", type_=sa.DateTime(timezone=True)),
        worker=sa.bindparam("claimer"),
        updated_at=STAMP,
    )
    .returning(webhook_deliveries.c.id)
)
CLAIMED = WITH_EVENT.where(webhook_deliveries.c.id.in_(CHOSEN)).order_by(
    webhook_deliveries.c.due_at, webhook_deliveries.c.id
)
APP = sa.select(apps).where(apps.c.id == sa.bindparam("app"))
# PostgreSQL: the claimers of one app take turns (a lock held until the
# claim commits), then take its oldest due deliveries and count its claims
# in flight afresh; so none of them fails for having chosen the same
# deliveries, and PER_APP holds. An advisory lock, not the app's row:
# deleting an app locks its deliveries and then its row, and would deadlock
# with a claim that held the row and waited for a delivery.
CLAIMERS = 0x77656268  # the advisory locks' key space: b"webh"
LOCK_APP = sa.select(sa.func.pg_advisory_xact_lock(CLAIMERS, sa.bindparam("app")))
HELD = sa.select(
    webhook_deliveries.c.id, webhook_deliveries.c.state, webhook_deliveries.c.attempts
).where(webhook_deliveries.c.id.in_(CHOSEN))
HELD_LOCKED = HELD.with_for_update()  # PostgreSQL; SQLite's write transaction excludes
FINISH = (
    webhook_deliveries.update()
    .where(webhook_deliveries.c.id == sa.bindparam("delivery"))
    .values(
        state=sa.bindparam("outcome"),
        due_at=sa.bindparam("due", type_=sa.DateTime(timezone=True)),
        lease_until=None,
        last_status=sa.bindparam("answered"),
        last_error=sa.bindparam("reason"),
        updated_at=STAMP,
    )
)
# a claimed delivery never sent: pending again, due as it was, its attempt
# not counted; only while the claim that took it holds (its attempts as
# claimed, state sending: the one who gives it back is the only one who
# may, since any other claim counts one more attempt)
UNSENT = (
    webhook_deliveries.update()
    .where(
        webhook_deliveries.c.id == sa.bindparam("delivery"),
        webhook_deliveries.c.state == "sending",
        webhook_deliveries.c.attempts == sa.bindparam("claimed"),
    )
    .values(
        state="pending",
        attempts=webhook_deliveries.c.attempts - 1,
        lease_until=None,
        worker=None,
        updated_at=STAMP,
    )
)
