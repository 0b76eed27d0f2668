"""The async-upload worker: claims jobs from the database with a lease, runs
them, and records the outcome. Transient failures (the source timed out, the
storage was briefly away) are retried with exponential back-off; the rest, and
jobs out of attempts, are recorded as failed with their reason, and the
category goes back to its previous image.

Why not a queue library: huey and its peers remove a task from the queue when a
worker takes it, so a worker killed mid-job loses it. A lease on a row in the
metadata database survives that, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vitrina import logs, metrics
from vitrina.bootstrap import Services
from vitrina.domain import naming
from vitrina.domain.errors import ClaimLost, DownloadFailed, Unavailable, VitrinaError
from vitrina.domain.values import Consequences, Job, Store
from vitrina.usecases import category_images as images
from vitrina.usecases import webhooks
from vitrina.usecases.consequences import follow
from vitrina.usecases.leases import LeaseKeeper, hand_back, runner_name

log = logging.getLogger("vitrina.jobs")

RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
# the worker also sweeps unreferenced files and prunes finished jobs and
# webhook deliveries, once per node
SWEEP_EVERY_SECONDS = 3600.0


class _LeaseKeeper(LeaseKeeper):
    """Keeps a job's claim while it runs (usecases/leases.py); ``held`` says
    whether the claim still holds (a process paused past its lease loses
    it) and the job is still wanted."""

    def __init__(self, services: Services, job: Job, lease_seconds: int) -> None:
        super().__init__(
            lambda: services.metadata.jobs.extend_lease(job, lease_seconds), lease_seconds
        )
        self.services = services
        self.job = job

    def held(self) -> bool:
        if self.lost:
            return False
        return self.services.metadata.jobs.job_wanted(self.job)


class JobRunner:
    def __init__(self, services: Services, retry_base: float = RETRY_BASE_SECONDS) -> None:
        self.services = services
        self.retry_base = retry_base
        self.name = runner_name("")
        self.lease_seconds = services.job_rules.lease_seconds
        self.current: Job | None = None

    def run_once(self) -> Job | None:
        """Claim and run one job; the job as claimed, or None when none is due."""
        job = self.services.metadata.jobs.claim_job(self.name, self.lease_seconds)
        if job is not None:
            self.current = job
            started_by = logs.request_id.set(job.request_id)  # on the job's log lines
            try:
                self._run(job)
            finally:
                logs.request_id.reset(started_by)
                self.current = None
        return job

    def run_until_idle(self, limit: int = 1000) -> int:
        done = 0
        while done < limit and self.run_once() is not None:
            done += 1
        return done

    def _run(self, job: Job) -> None:
        services = self.services
        store = services.metadata.stores.get_store(job.store_id)
        source: Path | None = None
        try:
            if store is None:
                raise VitrinaError("the store no longer exists")
            if not services.metadata.jobs.job_wanted(job):
                log.info("async upload job %d was cancelled: nothing waits for it", job.id)
                return
            with _LeaseKeeper(services, job, self.lease_seconds) as lease:
                source = images.download(services, job.url)
                shared, digest = self._share(job, store, source)
                if shared is None:
                    ids = naming.file_ids(job.image_id)
                    processed, stored = images.process_and_write(
                        services, store, source, ids, wait_always=True, held=lease.held
                    )
            if shared is None:
                done = services.metadata.jobs.finish_job(job, stored, processed.border, digest)
            else:
                done = shared
            follow(services, done)
            log.info("async upload job %d for category %d finished", job.id, job.category_id)
        except ClaimLost:
            log.warning("async upload job %d: the claim ran out, another worker runs it", job.id)
        except (DownloadFailed, Unavailable) as exc:
            self._fail(job, exc.message, exc.code, transient=True)
        except VitrinaError as exc:
            self._fail(job, exc.message, exc.code, transient=False)
        except Exception:
            log.exception("async upload job %d failed unexpectedly", job.id)
            reason = "internal error while processing the image"
            self._fail(job, reason, "INTERNAL_ERROR", transient=False)
        finally:
            if source is not None:
                source.unlink(missing_ok=True)

    def _share(
        self, job: Job, store: Store, source: Path
    ) -> tuple[Consequences | None, str | None]:
        """The job finished by showing files the store already has of the
        same bytes (None: it has none), and the upload's source digest."""
        digest = images.upload_digest(self.services, store, source)
        if digest is None:
            return None, None
        jobs = self.services.metadata.jobs
        done = images.share(self.services, source, lambda: jobs.share_job(job, digest))
        return done, digest

    def _fail(self, job: Job, reason: str, code: str, transient: bool) -> None:
        metrics.job_failures.labels(code).inc()
        retry_in = None
        if transient and job.attempts < self.services.job_rules.max_attempts:
            retry_in = min(RETRY_MAX_SECONDS, self.retry_base * 2 ** (job.attempts - 1))
        log.warning(
            "async upload job %d (store %d, category %d) attempt %d failed: %s%s",
            job.id, job.store_id, job.category_id, job.attempts, reason,
            f"; retrying in {retry_in:g}s" if retry_in is not None else "",
        )  # fmt: skip
        try:
            done = self.services.metadata.jobs.fail_job(job, reason, retry_in)
        except Unavailable:
            return  # the lease runs out and the job is claimed again
        follow(self.services, done)


class JobWorker:
    """Runs jobs in ``VITRINA_JOB_CONCURRENCY`` background threads until
    stopped, so a slow download holds up one thread, not the queue; the
    claim order keeps stores fair. The first thread also sweeps. Beside
    them, the webhook sender's threads (``webhooks``) start and stop with it;
    ``beside_requests``: this process also answers requests (the seconds
    so far it spent answering at least one), which the senders yield to
    while they saturate it (usecases/yielding.py)."""

    def __init__(
        self, services: Services, beside_requests: Callable[[], float] | None = None
    ) -> None:
        self.services = services
        self.poll = services.job_rules.poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Condition()
        count = services.job_rules.concurrency
        self._runners = [JobRunner(services) for _ in range(count)]
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), name=f"vitrina-jobs-{n}", daemon=True)
            for n in range(count)
        ]
        self.webhooks = webhooks.WebhookWorker(services, answering=beside_requests)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self.webhooks.start()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()
        self.webhooks.wake()  # a write that queued a job recorded an event too

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker stops (or ``timeout`` passes)."""
        for thread in self._threads:
            thread.join(timeout)

    def stop(self, timeout: float = 10) -> None:
        """Take no new job or delivery; let running ones finish for
        ``timeout`` seconds, then give up their claims so that another node
        runs them at once."""
        self._stop.set()
        self.webhooks.halt()
        self.wake()
        deadline = time.monotonic() + timeout
        hand_back(
            self._threads,
            deadline,
            lambda: (runner.current for runner in self._runners),
            self.services.metadata.jobs.release_job,
            lambda job: f"async upload job {job.id}",
        )
        self.webhooks.stop(max(0.0, deadline - time.monotonic()))

    def _loop(self, number: int) -> None:
        runner = self._runners[number]  # its own name, for the lease
        next_sweep = time.monotonic()  # at start (what a crash left), then hourly
        while not self._stop.is_set():
            try:
                if number == 0 and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
                    images.sweep(self.services, self.services.job_rules.gc_grace_seconds)
                    images.prune_jobs(self.services)
                    webhooks.prune(self.services)
                if runner.run_once() is not None:
                    continue
            except Unavailable as exc:
                log.warning("job worker: %s", exc.message)
            except Exception:
                log.exception("job worker: unexpected error")
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(self.poll)
