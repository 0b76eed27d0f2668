"""Webhook deliveries in the SQL metadata database, sent by leased rows.

Deliveries are claimed with a lease (a worker that dies loses only its lease
and another worker takes them over), and only the holder of the newest
claim may record an outcome. A claim takes up to ``most`` due deliveries of
one app in one write transaction, and their outcomes are recorded in one
more: a burst of events costs a handful of write transactions, not two per
event, which matters on SQLite where they queue behind the store's writes
for the one writer. Apps take turns: a claim goes to the app with the
fewest claims being sent, and an app never has more than ``PER_APP`` claims
sent at once, so one slow receiver holds up only its own events (and at
most ``PER_APP`` of a worker's threads). Every step of a claim reads an
index (``ix_webhook_deliveries_queue``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import (
    FINISHED,
    apps,
    webhook_attempts,
    webhook_deliveries,
    webhook_events,
)
from vitrina.backends.metadata.sql_apps import _app
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors
from vitrina.domain.values import UPDATED, App, Attempt, Delivery, WebhookEvent

PER_APP = 4  # claims of one app being sent at once (by as many workers), at most


def _event(row: Any) -> WebhookEvent:
    return WebhookEvent(
        id=row.event,
        event_id=row.event_id,
        store_id=row.store_id,
        entity_id=row.entity_id,
        event_type=row.event_type,
        created=row.created,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event=_event(row),
        app_id=row.app_id,
        store_id=row.store_id,
        state=row.state,
        attempts=row.attempts,
        due_at=aware(row.due_at),
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


_WITH_EVENT = sa.select(
    webhook_deliveries,
    webhook_events.c.event_id,
    webhook_events.c.entity_id,
    webhook_events.c.event_type,
    webhook_events.c.created,
).join(webhook_events, webhook_events.c.id == webhook_deliveries.c.event)


Stamp = datetime | sa.BindParameter[datetime]


def _claimable(stamp: Stamp) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(webhook_deliveries.c.state == "pending", webhook_deliveries.c.due_at <= stamp),
        sa.and_(webhook_deliveries.c.state == "sending", webhook_deliveries.c.lease_until < stamp),
    )


def _attempt_row(delivery: Delivery, attempt: Attempt) -> dict[str, Any]:
    return {
        "delivery": delivery.id,
        "app_id": delivery.app_id,
        "number": attempt.number,
        "at": attempt.at,
        "status": attempt.status,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "response": attempt.response,
        "request_headers": dict(attempt.request_headers),
        "request_body": attempt.request_body,
        "next_at": attempt.next_at,
    }


def _finish_row(
    delivery: Delivery, attempt: Attempt, delivered: bool, stamp: datetime
) -> dict[str, Any]:
    """Delivered; or due again at the attempt's ``next_at``; or failed for good."""
    if delivered:
        state, due = "delivered", delivery.due_at
    elif attempt.next_at is not None:
        state, due = "pending", attempt.next_at
    else:
        state, due = "failed", delivery.due_at
    return {
        "delivery": delivery.id,
        "outcome": state,
        "due": due,
        "answered": attempt.status,
        "reason": attempt.error,
        "stamp": stamp,
    }


def expired(stamp: Stamp) -> sa.Select[tuple[int]]:
    """A delivery whose worker's lease ran out."""
    d = webhook_deliveries
    return (
        sa.select(d.c.id)
        .where(d.c.state == "sending", d.c.lease_until < stamp)
        .order_by(d.c.lease_until)
        .limit(1)
    )


def _claims(sending: sa.FromClause, app_id: Any, stamp: Stamp) -> sa.ScalarSelect[int]:
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
    pending = d.alias("pending")
    app = sa.select(sa.func.min(d.c.app_id).label("app_id")).where(d.c.state == "pending")
    waiting = app.cte("waiting", recursive=True)
    following = (
        sa.select(sa.func.min(pending.c.app_id))
        .where(pending.c.state == "pending", pending.c.app_id > waiting.c.app_id)
        .scalar_subquery()
    )
    waiting = waiting.union_all(sa.select(following).where(waiting.c.app_id.is_not(None)))
    oldest = (
        sa.select(d.c.id)
        .where(d.c.state == "pending", d.c.app_id == waiting.c.app_id, d.c.due_at <= stamp)
        .order_by(d.c.due_at, d.c.id)
        .limit(1)
        .scalar_subquery()
    )
    busy = _claims(d.alias("sending"), waiting.c.app_id, stamp)
    candidates = (
        sa.select(oldest.label("id"), busy.label("busy"))
        .where(waiting.c.app_id.is_not(None))
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
_STAMP: sa.BindParameter[datetime] = sa.bindparam("stamp", type_=sa.DateTime(timezone=True))
_MOST = sa.bindparam("most", type_=sa.Integer)
_FAIR = fairest(_STAMP).subquery("fair")
_ONE = sa.select(sa.literal(1).label("one")).subquery("one")
_LAPSED = expired(_STAMP).subquery("lapsed")
_LAPSED_APP = webhook_deliveries.alias("lapsed_app")
# one round trip: a lapsed claim's app to take over, else the fairest app
_PICK = (
    sa.select(_LAPSED_APP.c.app_id.label("lapsed"), _FAIR.c.app_id)
    .select_from(_ONE)
    .outerjoin(_LAPSED, sa.true())
    .outerjoin(_LAPSED_APP, _LAPSED_APP.c.id == _LAPSED.c.id)
    .outerjoin(_FAIR, sa.true())
)
# the app's deliveries whose leases ran out, oldest lease first
_LAPSED_OF_APP = (
    sa.select(webhook_deliveries.c.id)
    .where(
        webhook_deliveries.c.state == "sending",
        webhook_deliveries.c.app_id == sa.bindparam("app"),
        webhook_deliveries.c.lease_until < _STAMP,
    )
    .order_by(webhook_deliveries.c.lease_until, webhook_deliveries.c.id)
    .limit(_MOST)
)
# the app's oldest due deliveries, while it has fewer than PER_APP claims out
_DUE_OF_APP = (
    sa.select(webhook_deliveries.c.id)
    .where(
        webhook_deliveries.c.state == "pending",
        webhook_deliveries.c.app_id == sa.bindparam("app"),
        webhook_deliveries.c.due_at <= _STAMP,
        _claims(webhook_deliveries.alias("sending"), sa.bindparam("app"), _STAMP) < PER_APP,
    )
    .order_by(webhook_deliveries.c.due_at, webhook_deliveries.c.id)
    .limit(_MOST)
)
_CHOSEN: sa.BindParameter[list[int]] = sa.bindparam("chosen", expanding=True)
_CLAIM = (
    webhook_deliveries.update()
    .where(webhook_deliveries.c.id.in_(_CHOSEN), _claimable(_STAMP))
    .values(
        state="sending",
        attempts=webhook_deliveries.c.attempts + 1,
        lease_until=sa.bindparam("lease", type_=sa.DateTime(timezone=True)),
        worker=sa.bindparam("claimer"),
        updated_at=_STAMP,
    )
    .returning(webhook_deliveries.c.id)
)
_CLAIMED = _WITH_EVENT.where(webhook_deliveries.c.id.in_(_CHOSEN)).order_by(
    webhook_deliveries.c.due_at, webhook_deliveries.c.id
)
_APP = sa.select(apps).where(apps.c.id == sa.bindparam("app"))
# PostgreSQL: the claimers of one app take turns (a lock held until the
# claim commits), then take its oldest due deliveries and count its claims
# in flight afresh; so none of them fails for having chosen the same
# deliveries, and PER_APP holds. An advisory lock, not the app's row:
# deleting an app locks its deliveries and then its row, and would deadlock
# with a claim that held the row and waited for a delivery.
_CLAIMERS = 0x77656268  # the advisory locks' key space: b"webh"
_LOCK_APP = sa.select(sa.func.pg_advisory_xact_lock(_CLAIMERS, sa.bindparam("app")))
_HELD = sa.select(
    webhook_deliveries.c.id, webhook_deliveries.c.state, webhook_deliveries.c.attempts
).where(webhook_deliveries.c.id.in_(_CHOSEN))
_HELD_LOCKED = _HELD.with_for_update()  # PostgreSQL; SQLite's write transaction excludes
_FINISH = (
    webhook_deliveries.update()
    .where(webhook_deliveries.c.id == sa.bindparam("delivery"))
    .values(
        state=sa.bindparam("outcome"),
        due_at=sa.bindparam("due", type_=sa.DateTime(timezone=True)),
        lease_until=None,
        last_status=sa.bindparam("answered"),
        last_error=sa.bindparam("reason"),
        updated_at=_STAMP,
    )
)
# a claimed delivery never sent: pending again, due as it was, its attempt
# not counted; only while the claim that took it holds (its attempts as
# claimed, state sending: the one who gives it back is the only one who
# may, since any other claim counts one more attempt)
_UNSENT = (
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
        updated_at=_STAMP,
    )
)


class SqlWebhooks:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def claim_deliveries(
        self, worker: str, lease_seconds: int, most: int
    ) -> tuple[App, list[Delivery]] | None:
        for _ in range(8):  # another worker took the candidates first: pick again
            stamp = now()
            with self.db.write() as conn:
                pick = conn.execute(_PICK, {"stamp": stamp}).one()
                app_id: int | None = pick.lapsed if pick.lapsed is not None else pick.app_id
                if app_id is None:
                    return None
                at = {"app": app_id, "stamp": stamp, "most": max(1, most)}
                if not self.db.sqlite:
                    conn.execute(_LOCK_APP, at)  # this claimer's turn on the app
                chosen = _LAPSED_OF_APP if pick.lapsed is not None else _DUE_OF_APP
                ids = list(conn.execute(chosen, at).scalars())
                if not ids:  # PostgreSQL: taken meanwhile, or PER_APP reached
                    continue
                claim = {
                    "stamp": stamp,
                    "chosen": ids,
                    "lease": stamp + timedelta(seconds=lease_seconds),
                    "claimer": worker[:100],
                }
                claimed = list(conn.execute(_CLAIM, claim).scalars())
                if not claimed:
                    continue
                rows = conn.execute(_CLAIMED, {"chosen": claimed}).all()
                app = conn.execute(_APP, {"app": app_id}).one()
            return _app(app), [_delivery(row) for row in rows]
        return None

    @translate_errors
    def finish_attempts(
        self, made: Sequence[tuple[Delivery, Attempt, bool]], unsent: Sequence[Delivery] = ()
    ) -> list[bool]:
        stamp, held = now(), set[int]()
        if not made and not unsent:
            return []
        with self.db.write() as conn:
            if made:
                conn.execute(
                    webhook_attempts.insert(),
                    [_attempt_row(delivery, attempt) for delivery, attempt, _ in made],
                )
                held = self._held(conn, [delivery for delivery, _, _ in made])
                finished = [
                    _finish_row(delivery, attempt, delivered, stamp)
                    for delivery, attempt, delivered in made
                    if delivery.id in held
                ]
                if finished:
                    conn.execute(_FINISH, finished)
            if unsent:
                conn.execute(
                    _UNSENT,
                    [{"delivery": d.id, "claimed": d.attempts, "stamp": stamp} for d in unsent],
                )
        return [delivery.id in held for delivery, _, _ in made]

    def _held(self, conn: sa.Connection, deliveries: list[Delivery]) -> set[int]:
        """Those of ``deliveries`` whose claim still holds: still being sent,
        and no other claim since (which would have counted one more attempt)."""
        held = _HELD if self.db.sqlite else _HELD_LOCKED
        rows = conn.execute(held, {"chosen": [d.id for d in deliveries]})
        now_at = {row.id: (row.state, row.attempts) for row in rows}
        return {d.id for d in deliveries if now_at.get(d.id) == ("sending", d.attempts)}

    @translate_errors
    def release_delivery(self, delivery: Delivery) -> None:
        d = webhook_deliveries
        with self.db.write() as conn:
            conn.execute(
                d.update()
                .where(
                    d.c.id == delivery.id, d.c.attempts == delivery.attempts, d.c.state == "sending"
                )
                .values(
                    state="pending", lease_until=None, worker=None, due_at=now(), updated_at=now()
                )
            )

    def _new_delivery(self, conn: sa.Connection, event: int, app_id: int, store_id: int) -> int:
        stamp = now()
        delivery_id: int = conn.execute(
            webhook_deliveries.insert()
            .values(
                event=event,
                app_id=app_id,
                store_id=store_id,
                state="pending",
                attempts=0,
                due_at=stamp,
                created_at=stamp,
                updated_at=stamp,
            )
            .returning(webhook_deliveries.c.id)
        ).scalar_one()
        return delivery_id

    @translate_errors
    def replay(self, store_id: int, delivery_id: int) -> Delivery | None:
        d = webhook_deliveries
        with self.db.write() as conn:
            old = conn.execute(
                sa.select(d.c.event, d.c.app_id).where(
                    d.c.store_id == store_id, d.c.id == delivery_id
                )
            ).first()
            if old is None:
                return None
            live = conn.execute(
                sa.select(apps.c.id).where(
                    apps.c.id == old.app_id, apps.c.deleted_at.is_(None), apps.c.webhook_url != ""
                )
            ).first()
            if live is None:
                return None
            new_id = self._new_delivery(conn, old.event, old.app_id, store_id)
            row = conn.execute(_WITH_EVENT.where(d.c.id == new_id)).one()
        return _delivery(row)

    @translate_errors
    def send_test(self, store_id: int, app_id: int, category_id: int) -> Delivery | None:
        d = webhook_deliveries
        with self.db.write() as conn:
            live = conn.execute(
                sa.select(apps.c.id).where(
                    apps.c.store_id == store_id,
                    apps.c.id == app_id,
                    apps.c.deleted_at.is_(None),
                    apps.c.webhook_url != "",
                )
            ).first()
            if live is None:
                return None
            event = conn.execute(
                webhook_events.insert()
                .values(
                    event_id=str(uuid.uuid4()),
                    store_id=store_id,
                    entity_id=category_id,
                    event_type=UPDATED,
                    created=int(time.time()),
                )
                .returning(webhook_events.c.id)
            ).scalar_one()
            new_id = self._new_delivery(conn, event, app_id, store_id)
            row = conn.execute(_WITH_EVENT.where(d.c.id == new_id)).one()
        return _delivery(row)

    @translate_errors
    def list_deliveries(
        self, store_id: int, app_id: int | None = None, limit: int = 100, before: int = 0
    ) -> list[Delivery]:
        d = webhook_deliveries
        query = _WITH_EVENT.where(d.c.store_id == store_id).order_by(d.c.id.desc()).limit(limit)
        if app_id is not None:
            query = query.where(d.c.app_id == app_id)
        if before:
            query = query.where(d.c.id < before)
        with self.db.read() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    @translate_errors
    def get_delivery(self, store_id: int, delivery_id: int) -> Delivery | None:
        d = webhook_deliveries
        with self.db.read() as conn:
            row = conn.execute(
                _WITH_EVENT.where(d.c.store_id == store_id, d.c.id == delivery_id)
            ).first()
        return _delivery(row) if row else None

    @translate_errors
    def attempts(self, store_id: int, delivery_id: int) -> list[Attempt]:
        a, d = webhook_attempts, webhook_deliveries
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(a)
                .join(d, d.c.id == a.c.delivery)
                .where(d.c.store_id == store_id, a.c.delivery == delivery_id)
                .order_by(a.c.id)
            )
            return [
                Attempt(
                    id=r.id,
                    delivery_id=r.delivery,
                    number=r.number,
                    at=aware(r.at),
                    status=r.status,
                    duration_ms=r.duration_ms,
                    error=r.error,
                    response=r.response,
                    request_headers=r.request_headers,
                    request_body=r.request_body,
                    next_at=aware(r.next_at) if r.next_at is not None else None,
                )
                for r in rows
            ]

    @translate_errors
    def webhook_counts(self) -> tuple[dict[str, int], float]:
        """By state, and how long the longest-waiting *due* delivery has
        waited for a worker: since it fell due, or since its worker's lease
        ran out. One waiting for its retry time is not late (a receiver down
        for a day is not a backlog of this deployment)."""
        d = webhook_deliveries
        stamp = now()
        with self.db.read() as conn:
            counts: dict[Any, Any] = dict(
                conn.execute(sa.select(d.c.state, sa.func.count()).group_by(d.c.state)).all()
            )
            due = conn.execute(
                sa.select(sa.func.min(d.c.due_at)).where(
                    d.c.state == "pending", d.c.due_at <= stamp
                )
            ).scalar()
            lapsed = conn.execute(
                sa.select(sa.func.min(d.c.lease_until)).where(
                    d.c.state == "sending", d.c.lease_until < stamp
                )
            ).scalar()
        since = [aware(t) for t in (due, lapsed) if t is not None]
        age = (stamp - min(since)).total_seconds() if since else 0.0
        return {str(k): int(v) for k, v in counts.items()}, max(0.0, age)

    @translate_errors
    def prune_webhooks(self, finished_before: datetime) -> int:
        d, a, e = webhook_deliveries, webhook_attempts, webhook_events
        with self.db.write() as conn:
            doomed = sa.select(d.c.id).where(FINISHED, d.c.updated_at < finished_before)
            conn.execute(a.delete().where(a.c.delivery.in_(doomed)))
            pruned = conn.execute(d.delete().where(d.c.id.in_(doomed))).rowcount or 0
            conn.execute(e.delete().where(e.c.id.not_in(sa.select(d.c.event))))
            # apps deleted whose last event (their uninstall) is delivered or given up
            conn.execute(
                apps.delete().where(
                    apps.c.deleted_at.is_not(None),
                    apps.c.deleted_at < finished_before,
                    apps.c.id.not_in(
                        sa.select(d.c.app_id).where(d.c.state.in_(("pending", "sending")))
                    ),
                )
            )
        return int(pruned)
