"""Which async-upload job a worker claims next, as SQL: a due queued job
or one whose lease ran out, the fairest first (the store with the fewest
jobs running), without visiting every queued job."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from vitrina.backends.metadata.schema import jobs
from vitrina.backends.metadata.sql_base import waiting


def claimable(stamp: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(jobs.c.state == "queued", jobs.c.run_at <= stamp),
        sa.and_(jobs.c.state == "running", jobs.c.lease_until < stamp),
    )


def expired(stamp: datetime) -> sa.Select[tuple[int]]:
    """A running job whose worker's lease ran out (ix_jobs_lease)."""
    return (
        sa.select(jobs.c.id)
        .where(jobs.c.state == "running", jobs.c.lease_until < stamp)
        .order_by(jobs.c.lease_until)
        .limit(1)
    )


def fairest(stamp: datetime) -> sa.Select[tuple[int]]:
    """The oldest due queued job of the store with the fewest jobs running.

    The stores with queued jobs are walked by a loose index scan (each step
    the next store id above the last, from ix_jobs_queue), and each store's
    oldest due job is one more index lookup; the running count of a store
    reads the few running rows. No step visits every queued job."""
    store = waiting(jobs, "store_id", "queued")
    oldest = (
        sa.select(jobs.c.id)
        .where(
            jobs.c.state == "queued",
            jobs.c.store_id == store.c.store_id,
            jobs.c.run_at <= stamp,
        )
        .order_by(jobs.c.run_at, jobs.c.id)
        .limit(1)
        .scalar_subquery()
    )
    running = jobs.alias("running")
    busy = (
        sa.select(sa.func.count())
        .select_from(running)
        .where(
            running.c.state == "running",
            running.c.store_id == store.c.store_id,
            running.c.lease_until >= stamp,
        )
        .scalar_subquery()
    )
    candidates = (
        sa.select(oldest.label("id"), busy.label("busy"))
        .where(store.c.store_id.is_not(None))
        .subquery()
    )
    chosen = jobs.alias("chosen")
    return (
        sa.select(candidates.c.id)
        .join(chosen, chosen.c.id == candidates.c.id)
        .order_by(candidates.c.busy, chosen.c.run_at, chosen.c.id)
        .limit(1)
    )
