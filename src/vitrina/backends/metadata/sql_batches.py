"""Batch tickets in the SQL metadata database, run by leased rows.

A ticket is claimed with a lease (a worker that dies loses only its lease;
another takes the ticket over once it runs out), and only the holder of the
newest claim may record an answer: each claim has its number, and every
step checks it in the transaction that writes. A store's tickets run one
at a time, oldest first; stores take turns by the time each ticket last
joined the queue (``turn_at``), so a worker that gives a long ticket back
after a slice lets every other store's ticket go first. The claim walks
the stores with open tickets by a loose index scan
(``ix_batch_tickets_queue``), as the job and webhook queues do.

Each step is one transaction: the previous request's answer, and the
ticket moved on. A request's writes mark it applied in their own
transactions (sql_base.py), fenced by the claim: a waiting request found
applied by a later claim took effect under a worker that stopped before
recording its answer; it is handed over ``applied`` (usecases/batches.py
decides what it answers). One found not applied did nothing: it runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import batch_items, batch_tickets
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, translate_errors, waiting
from vitrina.domain.batches import (
    COMPLETED,
    IN_PROGRESS,
    QUEUED,
    BatchItem,
    Claim,
    Outcome,
    Ticket,
)
from vitrina.domain.errors import ClaimLost, QueueFull

_T, _I = batch_tickets, batch_items


def _claimable(stamp: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        _T.c.state == "open",
        _T.c.due_at <= stamp,
        sa.or_(_T.c.lease_until.is_(None), _T.c.lease_until < stamp),
    )


def fairest(stamp: datetime) -> sa.Select[tuple[int]]:
    """The ticket to run next: of each store's oldest open ticket, the one
    that joined the queue first, if it is due and no lease holds it. The
    stores with open tickets are walked by a loose index scan, and each
    one's oldest ticket is one more index lookup."""
    store = waiting(_T, "store_id", "open")
    oldest = (
        sa.select(_T.c.id)
        .where(_T.c.state == "open", _T.c.store_id == store.c.store_id)
        .order_by(_T.c.id)
        .limit(1)
        .scalar_subquery()
    )
    candidates = (
        sa.select(oldest.label("id")).where(store.c.store_id.is_not(None)).subquery("candidates")
    )
    chosen = _T.alias("chosen")
    return (
        sa.select(chosen.c.id)
        .join(candidates, candidates.c.id == chosen.c.id)
        .where(
            chosen.c.due_at <= stamp,
            sa.or_(chosen.c.lease_until.is_(None), chosen.c.lease_until < stamp),
        )
        .order_by(chosen.c.turn_at, chosen.c.id)
        .limit(1)
    )


def _request_id(value: Any) -> str | int | None:
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _outcome(row: Any) -> Outcome:
    return Outcome(
        position=row.position,
        request_id=_request_id(row.request_id),
        skipped=row.state == "skipped",
        status=row.status or 0,
        body=row.answer or "",
    )


def _ticket(row: Any, outcomes: Sequence[Outcome] = ()) -> Ticket:
    return Ticket(
        ticket=row.ticket,
        store_id=row.store_id,
        open=row.state == "open",
        total=row.total,
        completed=row.completed,
        stop_on_failure=row.stop_on_failure,
        created_at=aware(row.created_at),
        outcomes=tuple(outcomes),
    )


def _status(status: str) -> sa.ColumnElement[bool]:
    if status == COMPLETED:
        return _T.c.state == "done"
    if status == IN_PROGRESS:
        return sa.and_(_T.c.state == "open", _T.c.completed > 0)
    assert status == QUEUED
    return sa.and_(_T.c.state == "open", _T.c.completed == 0)


class SqlBatches:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def create_ticket(
        self,
        store_id: int,
        token_hash: str,
        items: Sequence[BatchItem],
        stop_on_failure: bool,
        open_limit: int = 0,
        ticket: str | None = None,
    ) -> str:
        ticket = ticket or str(uuid.uuid4())
        stamp = now()
        with self.db.write() as conn:
            if open_limit:
                waiting = conn.execute(
                    sa.select(sa.func.count()).select_from(
                        sa.select(_T.c.id)
                        .where(_T.c.state == "open", _T.c.store_id == store_id)
                        .limit(open_limit)
                        .subquery()
                    )
                ).scalar_one()
                if waiting >= open_limit:
                    raise QueueFull(
                        f"Store #{store_id} already has {waiting} batch tickets waiting to run, "
                        "the most it may have (VITRINA_BATCH_QUEUE_PER_STORE); send more once "
                        "some have completed",
                        retry_after=10,
                    )
            ticket_id = conn.execute(
                _T.insert()
                .values(
                    ticket=ticket,
                    store_id=store_id,
                    token_hash=token_hash,
                    state="open",
                    stop_on_failure=stop_on_failure,
                    total=len(items),
                    completed=0,
                    position=0,
                    claims=0,
                    due_at=stamp,
                    turn_at=stamp,
                    created_at=stamp,
                    updated_at=stamp,
                )
                .returning(_T.c.id)
            ).scalar_one()
            conn.execute(
                _I.insert(),
                [
                    {
                        "ticket_id": ticket_id,
                        "position": item.position,
                        "request_id": item.request_id,
                        "method": item.method,
                        "target": item.target,
                        "content_type": item.content_type,
                        "body": item.body.decode("utf-8"),
                        "state": "waiting",
                    }
                    for item in items
                ],
            )
        return ticket

    @translate_errors
    def claim_ticket(self, worker: str, lease_seconds: int) -> Claim | None:
        for _ in range(8):  # another worker took the candidate first: pick again
            stamp = now()
            with self.db.write() as conn:
                chosen = conn.execute(fairest(stamp)).scalar()
                if chosen is None:
                    return None
                row = conn.execute(
                    _T.update()
                    .where(_T.c.id == chosen, _claimable(stamp))
                    .values(
                        claims=_T.c.claims + 1,
                        lease_until=stamp + timedelta(seconds=lease_seconds),
                        worker=worker[:100],
                        updated_at=stamp,
                    )
                    .returning(
                        _T.c.id,
                        _T.c.ticket,
                        _T.c.store_id,
                        _T.c.token_hash,
                        _T.c.claims,
                        _T.c.total,
                        _T.c.stop_on_failure,
                    )
                ).first()
            if row is not None:
                return Claim(
                    row.id,
                    row.ticket,
                    row.store_id,
                    row.token_hash,
                    row.claims,
                    row.total,
                    row.stop_on_failure,
                    worker[:100],
                )
        return None

    def _move(self, conn: sa.Connection, claim: Claim, **values: Any) -> int:
        """Update the ticket while ``claim`` holds it (ClaimLost otherwise),
        first in the transaction, so that on PostgreSQL its row stays locked
        to the commit; the ticket's position, after the update."""
        position = conn.execute(
            _T.update()
            .where(_T.c.id == claim.id, _T.c.claims == claim.number, _T.c.state == "open")
            .values(updated_at=now(), **values)
            .returning(_T.c.position)
        ).scalar()
        if position is None:
            raise ClaimLost("The ticket was deleted, finished or taken over by another worker")
        moved: int = position
        return moved

    @translate_errors
    def step(
        self, claim: Claim, answer: Outcome | None, more: bool, lease_seconds: int
    ) -> int | None:
        stamp = now()
        ticket: dict[str, Any] = {}
        finished = False
        if answer is not None:
            position = answer.position + 1
            failed = answer.status != 200 and claim.stop_on_failure
            finished = failed or position >= claim.total
            ticket.update(position=position, completed=_T.c.completed + 1)
        if finished:
            ticket.update(state="done", lease_until=None, worker=None, finished_at=stamp)
        elif not more:
            ticket.update(lease_until=None, worker=None, turn_at=stamp)
        else:
            ticket.update(lease_until=stamp + timedelta(seconds=lease_seconds))
        with self.db.write() as conn:
            position = self._move(conn, claim, **ticket)
            if answer is not None:
                conn.execute(
                    _I.update()
                    .where(_I.c.ticket_id == claim.id, _I.c.position == answer.position)
                    .values(
                        state="done",
                        status=answer.status,
                        answer=answer.body,
                        answered_at=stamp,
                        worker=claim.worker or None,
                    )
                )
                if finished and position < claim.total:  # a failure: the rest are skipped
                    conn.execute(
                        _I.update()
                        .where(_I.c.ticket_id == claim.id, _I.c.position >= position)
                        .values(state="skipped")
                    )
        if finished or not more:
            return None
        return position

    @translate_errors
    def items(self, claim: Claim, start: int, count: int) -> list[BatchItem]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(_I)
                .where(_I.c.ticket_id == claim.id, _I.c.position >= start, _I.c.state == "waiting")
                .order_by(_I.c.position)
                .limit(count)
            ).all()
        return [
            BatchItem(
                position=item.position,
                request_id=_request_id(item.request_id),
                method=item.method,
                target=item.target,
                body=item.body.encode("utf-8"),
                content_type=item.content_type,
                applied=item.applied_at is not None,
            )
            for item in rows
        ]

    @translate_errors
    def put_back(self, claim: Claim, due_in: float) -> None:
        stamp = now()
        with self.db.write() as conn:
            self._move(
                conn,
                claim,
                lease_until=None,
                worker=None,
                due_at=stamp + timedelta(seconds=due_in),
                turn_at=stamp,
            )

    @translate_errors
    def extend_ticket_lease(self, claim: Claim, lease_seconds: int) -> bool:
        with self.db.write() as conn:
            kept = conn.execute(
                _T.update()
                .where(_T.c.id == claim.id, _T.c.claims == claim.number, _T.c.state == "open")
                .values(lease_until=now() + timedelta(seconds=lease_seconds))
            ).rowcount
        return bool(kept)

    @translate_errors
    def release_ticket(self, claim: Claim) -> None:
        stamp = now()
        with self.db.write() as conn:
            conn.execute(
                _T.update()
                .where(_T.c.id == claim.id, _T.c.claims == claim.number, _T.c.state == "open")
                .values(lease_until=None, worker=None, turn_at=stamp, updated_at=stamp)
            )

    def _owned(self, store_id: int, token_hash: str) -> sa.ColumnElement[bool]:
        return sa.and_(_T.c.store_id == store_id, _T.c.token_hash == token_hash)

    @translate_errors
    def get_ticket(self, store_id: int, token_hash: str, ticket: str) -> Ticket | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(_T).where(self._owned(store_id, token_hash), _T.c.ticket == ticket)
            ).first()
            if row is None:
                return None
            outcomes = conn.execute(
                sa.select(_I.c.position, _I.c.request_id, _I.c.state, _I.c.status, _I.c.answer)
                .where(_I.c.ticket_id == row.id, _I.c.state.in_(("done", "skipped")))
                .order_by(_I.c.position)
            ).all()
        return _ticket(row, [_outcome(o) for o in outcomes])

    @translate_errors
    def list_tickets(
        self, store_id: int, token_hash: str, status: str | None, offset: int, limit: int
    ) -> tuple[int, list[Ticket]]:
        where = [self._owned(store_id, token_hash)]
        if status is not None:
            where.append(_status(status))
        with self.db.read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(_T).where(*where)
            ).scalar_one()
            rows = conn.execute(
                sa.select(_T).where(*where).order_by(_T.c.id).offset(offset).limit(limit)
            ).all()
        return int(total), [_ticket(r) for r in rows]

    @translate_errors
    def delete_ticket(self, store_id: int, token_hash: str, ticket: str) -> int:
        with self.db.write() as conn:
            found = conn.execute(
                self.db.lock(
                    sa.select(_T.c.id).where(
                        self._owned(store_id, token_hash), _T.c.ticket == ticket
                    )
                )
            ).scalar()
            if found is None:
                return 0
            conn.execute(_I.delete().where(_I.c.ticket_id == found))
            conn.execute(_T.delete().where(_T.c.id == found))
        return 1

    @translate_errors
    def prune_tickets(self, finished_before: datetime) -> int:
        with self.db.write() as conn:
            doomed = sa.select(_T.c.id).where(
                _T.c.state == "done", _T.c.finished_at < finished_before
            )
            conn.execute(_I.delete().where(_I.c.ticket_id.in_(doomed)))
            pruned = conn.execute(_T.delete().where(_T.c.id.in_(doomed))).rowcount
        return int(pruned or 0)
