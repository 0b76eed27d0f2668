"""Async-upload jobs in the SQL metadata database: claimed with a lease (a
worker that dies loses its lease and the job is claimed again), fair across
stores, and finished or failed only by the holder of the newest claim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import categories, images, jobs
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, now, touch, translate_errors
from vitrina.backends.metadata.sql_catalog import column_values
from vitrina.backends.metadata.sql_images import (
    NothingToShare,
    category_image,
    delete_images,
    insert_files,
    own_keys,
    release,
    same_source,
)
from vitrina.backends.metadata.sql_job_queue import claimable, expired, fairest
from vitrina.backends.metadata.sql_outbox import record
from vitrina.domain import naming
from vitrina.domain.errors import QueueFull
from vitrina.domain.values import UPDATED, CategoryChanges, Consequences, Job, StoredFile


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        store_id=row.store_id,
        category_id=row.category_id,
        image_id=row.image_id,
        url=row.url,
        attempts=row.attempts,
        state=row.state,
        last_error=row.last_error,
        request_id=row.request_id,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


class SqlJobs:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    @translate_errors
    def start_async_image(
        self,
        store_id: int,
        category_id: int,
        image_id: int,
        url: str,
        width: int,
        height: int,
        external_id: str | None,
        alt: CategoryChanges | None,
        request_id: str = "",
        waiting_limit: int = 0,
    ) -> Consequences | None:
        done = Consequences()
        with self.db.write(store_id) as conn:
            current = category_image(self.db, conn, store_id, category_id)
            if current is None:
                return None
            if waiting_limit:
                waiting = conn.execute(
                    sa.select(sa.func.count()).select_from(
                        sa.select(jobs.c.id)
                        .where(jobs.c.state.in_(("queued", "running")), jobs.c.store_id == store_id)
                        .limit(waiting_limit)
                        .subquery()
                    )
                ).scalar_one()
                if waiting >= waiting_limit:
                    raise QueueFull(
                        f"Store #{store_id} already has {waiting} async uploads waiting, the "
                        "most it may have (VITRINA_JOB_QUEUE_PER_STORE); send more once some "
                        "have finished",
                        retry_after=30,
                    )
            previous, doomed = current.image_id, []
            if previous is not None:
                row = conn.execute(
                    sa.select(images.c.pending_url, images.c.previous_image_id).where(
                        images.c.id == previous
                    )
                ).one()
                if row.pending_url is not None:  # replacing a pending image: keep its fallback
                    doomed, previous = [current.image_id], row.previous_image_id
            stamp = now()
            conn.execute(
                images.insert().values(
                    id=image_id,
                    store_id=store_id,
                    category_id=category_id,
                    pending_url=url,
                    pending_width=width,
                    pending_height=height,
                    previous_image_id=previous,
                    created_at=stamp,
                )
            )
            changes: dict[str, Any] = {
                "image_id": image_id,
                "updated_at": stamp,
                "version": conn.info["catalog_version"],
            }
            if external_id is not None:
                changes["image_external_id"] = external_id
            if alt is not None:
                changes.update(column_values(alt.given()))
            conn.execute(
                categories.update().where(categories.c.id == category_id).values(**changes)
            )
            conn.execute(
                jobs.insert().values(
                    store_id=store_id,
                    category_id=category_id,
                    image_id=image_id,
                    url=url,
                    state="queued",
                    attempts=0,
                    request_id=request_id[:128],
                    run_at=stamp,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            delete_images(conn, doomed, done)
            record(conn, done, UPDATED, store_id, category_id)
        return done

    @translate_errors
    def claim_job(self, worker: str, lease_seconds: int) -> Job | None:
        """The next job to run, leased to ``worker``; None when none is due.

        Fair across stores: a job whose lease ran out (its worker died) goes
        first, then the oldest due job of the store with the fewest jobs
        running, so one store's slow downloads do not hold up another's.
        Every step reads an index: the cost grows with the number of stores
        that have jobs waiting, not with the number of jobs
        (bench/jobs.py)."""
        for _ in range(8):  # another worker took the candidate first: pick again
            stamp = now()
            with self.db.write() as conn:
                job_id = (
                    conn.execute(expired(stamp)).scalar() or conn.execute(fairest(stamp)).scalar()
                )
                if job_id is None:
                    return None
                row = conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id, claimable(stamp))
                    .values(
                        state="running",
                        attempts=jobs.c.attempts + 1,
                        lease_until=stamp + timedelta(seconds=lease_seconds),
                        worker=worker[:100],
                        updated_at=stamp,
                    )
                    .returning(*jobs.c)
                ).first()
            if row is not None:
                return _job(row)
        return None

    def _claim(self, conn: sa.Connection, job: Job) -> str:
        """ "held" while this claim runs the job, "cancelled" when nothing waits
        for it any more, "lost" when a newer claim runs it."""
        row = conn.execute(
            self.db.lock(sa.select(jobs.c.state, jobs.c.attempts).where(jobs.c.id == job.id))
        ).first()
        if row is None or row.attempts != job.attempts:
            return "lost"
        if row.state == "cancelled":
            return "cancelled"
        return "held" if row.state == "running" else "lost"

    @translate_errors
    def extend_lease(self, job: Job, lease_seconds: int) -> bool:
        with self.db.write() as conn:
            kept = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job.id,
                    jobs.c.attempts == job.attempts,
                    jobs.c.state == "running",
                )
                .values(lease_until=now() + timedelta(seconds=lease_seconds))
            ).rowcount
        return bool(kept)

    def job_wanted(self, job: Job) -> bool:
        """Whether something still waits for ``job`` (checked before downloading)."""
        with self.db.read() as conn:
            return self._claim(conn, job) == "held"

    @translate_errors
    def finish_job(
        self,
        job: Job,
        stored: Sequence[StoredFile],
        border: Mapping[str, Any],
        source: str | None = None,
    ) -> Consequences:
        own = Consequences(orphans=own_keys(job.store_id, stored))
        done = Consequences()
        with self.db.write(job.store_id) as conn:
            claim = self._claim(conn, job)
            if claim == "cancelled":
                return own  # nothing points at them
            if claim != "held":
                return done  # a newer claim runs it; its files have the same keys
            pending = self._pending(conn, job)
            if pending is None:
                return own
            same = same_source(conn, job.store_id, source) if source else None
            if same is None:
                insert_files(conn, job.store_id, job.image_id, stored, source)
            else:  # the same upload was committed meanwhile: keep its bytes, not these
                ids = [f.id for f in stored]
                insert_files(conn, job.store_id, job.image_id, same.over(ids), source)
                done.orphans += own.orphans
            self._complete(conn, job, border if same is None else same.border, pending, done)
        return done

    @translate_errors
    def share_job(self, job: Job, source: str) -> Consequences | None:
        with self.db.read() as conn:  # most uploads are new: no write for them
            if same_source(conn, job.store_id, source) is None:
                return None
        done = Consequences()
        try:
            with self.db.write(job.store_id) as conn:
                if self._claim(conn, job) != "held":
                    return done  # cancelled, or a newer claim runs it: nothing was stored
                pending = self._pending(conn, job)
                if pending is None:
                    return done
                same = same_source(conn, job.store_id, source)  # again, in the store's turn
                if same is None:
                    raise NothingToShare
                ids = naming.file_ids(job.image_id)
                insert_files(conn, job.store_id, job.image_id, same.over(ids), source)
                self._complete(conn, job, same.border, pending, done)
        except NothingToShare:
            return None
        return done

    def _pending(self, conn: sa.Connection, job: Job) -> Any:
        """The job's pending image (what it would fall back to, as
        ``previous_image_id``); None, once the job is marked done, when its
        image is no longer pending: a later upload superseded it."""
        image = conn.execute(
            sa.select(images.c.previous_image_id, images.c.pending_url).where(
                images.c.id == job.image_id
            )
        ).first()
        if image is None or image.pending_url is None:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(
                    state="done",
                    lease_until=None,
                    updated_at=now(),
                    last_error="superseded by a later upload",
                )
            )
            return None
        return image

    def _complete(
        self,
        conn: sa.Connection,
        job: Job,
        border: Mapping[str, Any] | None,
        pending: Any,
        done: Consequences,
    ) -> None:
        """The job's image shows its files now (they are recorded); the
        image it would have fallen back to goes."""
        conn.execute(
            images.update()
            .where(images.c.id == job.image_id)
            .values(
                pending_url=None,
                pending_width=0,
                pending_height=0,
                previous_image_id=None,
                border=None if border is None else dict(border),
            )
        )
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job.id)
            .values(state="done", lease_until=None, updated_at=now(), last_error="")
        )
        touch(conn, job.category_id)  # its image fields now point at the files
        release(conn, pending.previous_image_id, done)
        record(conn, done, UPDATED, job.store_id, job.category_id)

    @translate_errors
    def fail_job(self, job: Job, reason: str, retry_in: float | None) -> Consequences:
        stamp = now()
        done = Consequences()
        with self.db.write(job.store_id) as conn:
            if self._claim(conn, job) != "held":
                return done
            if retry_in is not None:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(
                        state="queued",
                        run_at=stamp + timedelta(seconds=retry_in),
                        lease_until=None,
                        last_error=reason,
                        updated_at=stamp,
                    )
                )
                return done
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job.id)
                .values(state="failed", lease_until=None, last_error=reason, updated_at=stamp)
            )
            image = conn.execute(
                sa.select(images.c.previous_image_id, images.c.pending_url).where(
                    images.c.id == job.image_id
                )
            ).first()
            if image is None or image.pending_url is None:
                return done
            conn.execute(
                categories.update()
                .where(categories.c.id == job.category_id, categories.c.image_id == job.image_id)
                .values(
                    image_id=image.previous_image_id,
                    updated_at=stamp,
                    version=conn.info["catalog_version"],
                )
            )
            delete_images(conn, [job.image_id], done)
            record(conn, done, UPDATED, job.store_id, job.category_id)
        return done

    @translate_errors
    def cancel_jobs(self, image_ids: Sequence[int]) -> int:
        with self.db.write() as conn:
            result = conn.execute(
                jobs.update()
                .where(
                    jobs.c.image_id.in_(list(image_ids)), jobs.c.state.in_(("queued", "running"))
                )
                .values(
                    state="cancelled",
                    lease_until=None,
                    last_error="cancelled: the image was replaced or deleted before it was ready",
                    updated_at=now(),
                )
            )
        return int(result.rowcount or 0)

    @translate_errors
    def list_jobs(
        self,
        state: str | None = None,
        limit: int = 100,
        store_id: int | None = None,
        image_id: int | None = None,
    ) -> list[Job]:
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if state:
            query = query.where(jobs.c.state == state)
        if store_id is not None:
            query = query.where(jobs.c.store_id == store_id)
        if image_id is not None:
            query = query.where(jobs.c.image_id == image_id)
        with self.db.read() as conn:
            return [_job(r) for r in conn.execute(query)]

    @translate_errors
    def prune_jobs(self, finished_before: datetime) -> int:
        """Delete jobs that finished (done, failed, cancelled) before then."""
        with self.db.write() as conn:
            result = conn.execute(
                jobs.delete().where(
                    jobs.c.state.in_(("done", "failed", "cancelled")),
                    jobs.c.updated_at < finished_before,
                )
            )
        return int(result.rowcount or 0)

    @translate_errors
    def release_job(self, job: Job) -> None:
        with self.db.write() as conn:
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job.id,
                    jobs.c.attempts == job.attempts,
                    jobs.c.state == "running",
                )
                .values(
                    state="queued", lease_until=None, worker=None, run_at=now(), updated_at=now()
                )
            )

    @translate_errors
    def job_counts(self) -> tuple[dict[str, int], float]:
        with self.db.read() as conn:
            counts: dict[str, int] = dict(
                conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)).all()
            )
            oldest = conn.execute(
                sa.select(sa.func.min(jobs.c.created_at)).where(jobs.c.state == "queued")
            ).scalar()
        age = (now() - aware(oldest)).total_seconds() if oldest is not None else 0.0
        return {str(k): int(v) for k, v in counts.items()}, max(0.0, age)
