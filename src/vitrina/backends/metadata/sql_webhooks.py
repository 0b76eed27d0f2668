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
from vitrina.backends.metadata.sql_webhook_queue import (
    APP,
    CLAIM,
    CLAIMED,
    DUE_OF_APP,
    FINISH,
    HELD,
    HELD_LOCKED,
    LAPSED_OF_APP,
    LOCK_APP,
    PICK,
    UNSENT,
    WITH_EVENT,
)
from vitrina.domain.values import UPDATED, App, Attempt, Delivery, WebhookEvent


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
                pick = conn.execute(PICK, {"stamp": stamp}).one()
                app_id: int | None = pick.lapsed if pick.lapsed is not None else pick.app_id
                if app_id is None:
                    return None
                at = {"app": app_id, "stamp": stamp, "most": max(1, most)}
                if not self.db.sqlite:
                    conn.execute(LOCK_APP, at)  # this claimer's turn on the app
                chosen = LAPSED_OF_APP if pick.lapsed is not None else DUE_OF_APP
                ids = list(conn.execute(chosen, at).scalars())
                if not ids:  # PostgreSQL: taken meanwhile, or PER_APP reached
                    continue
                claim = {
                    "stamp": stamp,
                    "chosen": ids,
                    "lease": stamp + timedelta(seconds=lease_seconds),
                    "claimer": worker[:100],
                }
                claimed = list(conn.execute(CLAIM, claim).scalars())
                if not claimed:
                    continue
                rows = conn.execute(CLAIMED, {"chosen": claimed}).all()
                app = conn.execute(APP, {"app": app_id}).one()
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
                    conn.execute(FINISH, finished)
            if unsent:
                conn.execute(
                    UNSENT,
                    [{"delivery": d.id, "claimed": d.attempts, "stamp": stamp} for d in unsent],
                )
        return [delivery.id in held for delivery, _, _ in made]

    def _held(self, conn: sa.Connection, deliveries: list[Delivery]) -> set[int]:
        """Those of ``deliveries`` whose claim still holds: still being sent,
        and no other claim since (which would have counted one more attempt)."""
        held = HELD if self.db.sqlite else HELD_LOCKED
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
            row = conn.execute(WITH_EVENT.where(d.c.id == new_id)).one()
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
            row = conn.execute(WITH_EVENT.where(d.c.id == new_id)).one()
        return _delivery(row)

    @translate_errors
    def list_deliveries(
        self, store_id: int, app_id: int | None = None, limit: int = 100, before: int = 0
    ) -> list[Delivery]:
        d = webhook_deliveries
        query = WITH_EVENT.where(d.c.store_id == store_id).order_by(d.c.id.desc()).limit(limit)
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
                WITH_EVENT.where(d.c.store_id == store_id, d.c.id == delivery_id)
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
