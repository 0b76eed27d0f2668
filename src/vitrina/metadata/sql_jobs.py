"""Async-upload jobs in the SQL metadata database: claimed with a lease (a
worker that dies loses its lease and the job is claimed again), fair across
stores, and finished or failed only by the holder of the newest claim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from vitrina.interfaces import Job, StoredFile
from vitrina.metadata.schema import categories, images, jobs
from vitrina.metadata.sql_base import SqlDatabase, aware, now, touch, translate_errors
from vitrina.metadata.sql_images import category_image, delete_images, insert_files, release
from vitrina.naming import file_key


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
        alt: Mapping[str, Any] | None,
        request_id: str = "",
    ) -> list[str] | None:
        with self.db.write(store_id) as conn:
            current = category_image(self.db, conn, store_id, category_id)
            if current is None:
                return None
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
                changes.update(alt)
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
            return delete_images(conn, doomed)

    @translate_errors
    def claim_job(self, worker: str, lease_seconds: int) -> Job | None:
        stamp = now()
        with self.db.write() as conn:
            # Fair across stores: a store with fewer jobs running goes first, so
            # one store's slow downloads do not hold up another store's jobs.
            running = jobs.alias("running")
            busy = (
                sa.select(sa.func.count())
                .select_from(running)
                .where(
                    running.c.store_id == jobs.c.store_id,
                    running.c.state == "running",
                    running.c.lease_until >= stamp,
                )
                .scalar_subquery()
            )
            query = (
                sa.select(jobs.c.id)
                .where(
                    jobs.c.state.in_(("queued", "running")),
                    jobs.c.run_at <= stamp,
                    sa.or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < stamp),
                )
                .order_by(busy, jobs.c.run_at, jobs.c.id)
                .limit(1)
            )
            if not self.db.sqlite:
                query = query.with_for_update(skip_locked=True)
            job_id = conn.execute(query).scalar()
            if job_id is None:
                return None
            row = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    state="running",
                    attempts=jobs.c.attempts + 1,
                    lease_until=stamp + timedelta(seconds=lease_seconds),
                    worker=worker[:100],
                    updated_at=stamp,
                )
                .returning(*jobs.c)
            ).one()
        return _job(row)

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

    def job_wanted(self, job: Job) -> bool:
        """Whether something still waits for ``job`` (checked before downloading)."""
        with self.db.read() as conn:
            return self._claim(conn, job) == "held"

    @translate_errors
    def finish_job(
        self, job: Job, stored: Sequence[StoredFile], border: Mapping[str, Any]
    ) -> list[str]:
        own_keys = [file_key(job.store_id, f.id, f.ext) for f in stored]
        with self.db.write(job.store_id) as conn:
            claim = self._claim(conn, job)
            if claim == "cancelled":
                return own_keys  # nothing points at them
            if claim != "held":
                return []  # a newer claim runs it; its files have the same keys
            done = {"state": "done", "lease_until": None, "updated_at": now()}
            image = conn.execute(
                sa.select(images.c.previous_image_id, images.c.pending_url).where(
                    images.c.id == job.image_id
                )
            ).first()
            if image is None or image.pending_url is None:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(last_error="superseded by a later upload", **done)
                )
                return own_keys
            insert_files(conn, job.store_id, job.image_id, stored)
            conn.execute(
                images.update()
                .where(images.c.id == job.image_id)
                .values(
                    pending_url=None,
                    pending_width=0,
                    pending_height=0,
                    previous_image_id=None,
                    border=dict(border),
                )
            )
            conn.execute(jobs.update().where(jobs.c.id == job.id).values(last_error="", **done))
            touch(conn, job.category_id)  # its image fields now point at the files
            return release(conn, image.previous_image_id)

    @translate_errors
    def fail_job(self, job: Job, reason: str, retry_in: float | None) -> list[str]:
        stamp = now()
        with self.db.write(job.store_id) as conn:
            if self._claim(conn, job) != "held":
                return []
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
                return []
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
                return []
            conn.execute(
                categories.update()
                .where(categories.c.id == job.category_id, categories.c.image_id == job.image_id)
                .values(
                    image_id=image.previous_image_id,
                    updated_at=stamp,
                    version=conn.info["catalog_version"],
                )
            )
            return delete_images(conn, [job.image_id])

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
    def release_job(self, job: Job) -> None:
        with self.db.write() as conn:
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job.id,
                    jobs.c.attempts == job.attempts,
                    jobs.c.state == "running",
                )
                .values(lease_until=None, worker=None, run_at=now(), updated_at=now())
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
