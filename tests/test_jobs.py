"""Async uploads run concurrently and fairly across stores, and a job that
nothing waits for any more is cancelled without a download."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests import sample_images as images
from tests.conftest import Api, make_store, run_jobs
from tests.processes import wait_until
from tests.servers import ImageServer
from vitrina.bootstrap import Services
from vitrina.usecases.upload_jobs import JobWorker


def start_async(api: Api, category_id: int, url: str) -> int:
    response = api.post(
        f"/categories/{category_id}/image/async", json={"url": url, "width": 8, "height": 8}
    )
    assert response.status_code == 200, response.text
    image_id: int = response.json()["id"]
    return image_id


def downloads(server: ImageServer, tag: str) -> list[str]:
    return [r for r in server.requests if tag in r]


@pytest.mark.parametrize("how", ["delete category", "delete image", "upload", "async again"])
def test_a_job_nothing_waits_for_is_cancelled_without_a_download(
    api: Api,
    services: Services,
    remote: ImageServer,
    how: str,
) -> None:
    category_id = api.create()
    start_async(api, category_id, remote.url("/image.jpg?first"))
    if how == "delete category":
        assert api.delete(f"/categories/{category_id}").status_code == 200
    elif how == "delete image":
        assert api.delete(f"/categories/{category_id}/image").json() == {"deleteCount": 1}
    elif how == "upload":
        assert api.upload(category_id, images.png(40, 30)).status_code == 200
    else:
        start_async(api, category_id, remote.url("/image.jpg?second"))
    run_jobs(services)
    assert downloads(remote, "first") == []
    states = {job.url.rsplit("?", 1)[1]: job for job in services.metadata.jobs.list_jobs()}
    assert states["first"].state == "cancelled"
    assert "replaced or deleted" in states["first"].last_error
    if how == "async again":
        assert states["second"].state == "done"
        assert api.category(category_id)["thumbnail"]["width"] == 400
    if how == "upload":
        assert api.category(category_id)["thumbnail"]["width"] == 40


def test_claims_go_to_the_store_with_fewest_jobs_running(
    api: Api,
    services: Services,
    remote: ImageServer,
) -> None:
    other = make_store(services, api.client, name="Other")
    busy = [api.create() for _ in range(3)]
    for category_id in busy:
        start_async(api, category_id, remote.url(f"/image.jpg?busy{category_id}"))
    start_async(other, other.create(), remote.url("/image.jpg?other"))
    first = services.metadata.jobs.claim_job("w1", 60)
    second = services.metadata.jobs.claim_job("w2", 60)
    assert first is not None and first.store_id == api.store_id  # the oldest job
    assert second is not None and second.store_id == other.store_id  # not the next oldest


@pytest.fixture
def worker(services: Services) -> Iterator[Any]:
    started: list[JobWorker] = []

    def start(concurrency: int) -> JobWorker:
        services.settings = services.settings.replace(job_concurrency=concurrency)
        job_worker = JobWorker(services)
        job_worker.poll = 0.05
        job_worker.start()
        started.append(job_worker)
        return job_worker

    yield start
    for job_worker in started:
        job_worker.stop()


@pytest.mark.embedded_only
def test_slow_downloads_of_one_store_do_not_hold_up_another(
    api: Api,
    services: Services,
    remote: ImageServer,
    worker: Any,
) -> None:
    """Store 1 queues three downloads that take 3 s each, then store 2 queues
    a quick one. With two job threads, store 2's job is done before any of
    store 1's: one thread takes it while the other waits on store 1."""
    other = make_store(services, api.client, name="Other")
    for _ in range(3):
        start_async(api, api.create(), remote.url("/hang"))
    quick = other.create()
    start_async(other, quick, remote.url("/image.jpg?quick"))
    worker(2)

    def done_jobs() -> list[Any]:
        return [j for j in services.metadata.jobs.list_jobs() if j.state == "done"]

    assert wait_until(done_jobs, timeout=30)
    done = done_jobs()
    assert done and done[0].store_id == other.store_id, [(j.store_id, j.url) for j in done]
    assert other.category(quick)["thumbnail"]["width"] == 400


def test_a_store_may_have_only_so_many_uploads_waiting(
    api: Api, services: Services, remote: ImageServer
) -> None:
    services.settings = services.settings.replace(job_queue_per_store=3)
    other = make_store(services, api.client, name="Other")
    categories = [api.create() for _ in range(4)]
    for category_id in categories[:3]:
        start_async(api, category_id, remote.url(f"/image.jpg?{category_id}"))
    refused = api.post(
        f"/categories/{categories[3]}/image/async",
        json={"url": remote.url("/image.jpg?fourth"), "width": 8, "height": 8},
    )
    assert refused.status_code == 429
    assert refused.json()["errorCode"] == "RATE_LIMITED"
    assert "3 async uploads waiting" in refused.json()["errorMessage"]
    assert int(refused.headers["retry-after"]) > 0
    assert "thumbnailUrl" not in api.category(categories[3])  # nothing changed
    start_async(other, other.create(), remote.url("/image.jpg?other"))  # another store's own
    run_jobs(services)  # the three finish, and make room
    start_async(api, categories[3], remote.url("/image.jpg?fourth"))


def test_finished_jobs_are_pruned_after_the_retention_period(
    api: Api, services: Services, remote: ImageServer
) -> None:
    from datetime import UTC, datetime, timedelta

    from vitrina.usecases import category_images as uploads

    done = [start_async(api, api.create(), remote.url(f"/image.jpg?d{n}")) for n in range(3)]
    run_jobs(services)
    waiting = start_async(api, api.create(), remote.url("/image.jpg?waiting"))
    assert uploads.prune_jobs(services) == 0  # all younger than the retention
    later = datetime.now(UTC) + timedelta(seconds=services.settings.job_retention_seconds + 1)
    assert services.metadata.jobs.prune_jobs(later) == len(done)
    left = services.metadata.jobs.list_jobs()
    assert [(j.image_id, j.state) for j in left] == [(waiting, "queued")]
    assert api.get(f"/_jobs/{done[0]}").status_code == 404


@pytest.mark.embedded_only
def test_the_claim_reads_indexes_only(api: Api, services: Services, remote: ImageServer) -> None:
    """No step of a claim scans the jobs table (SQLite's plan says which
    index each step reads); bench/jobs.py measures the claim at 1,000 and
    100,000 jobs."""
    from datetime import UTC, datetime

    from vitrina.backends.metadata.sql_job_queue import expired, fairest

    for _ in range(3):
        start_async(api, api.create(), remote.url("/image.jpg"))
    engine = services.engine
    assert engine is not None
    stamp = datetime.now(UTC)
    with engine.connect() as conn:
        for query in (expired(stamp), fairest(stamp)):
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
            scans = [line for line in plan if line.startswith("SCAN") and "jobs" in line]
            assert all("INDEX" in line for line in scans), plan
            assert any("ix_jobs_queue" in line or "ix_jobs_lease" in line for line in plan), plan


def _bytes(api: Api, url: str) -> bytes:
    answer = api.client.get(url.removeprefix("http://testserver"))
    assert answer.status_code == 200, url
    return answer.content


class _GatedFetcher:
    """The test's real fetcher, but a thread named ``gated`` waits at the
    gate first: a worker stalled (paused, swapped out) past its lease."""

    def __init__(self, inner: Any, gate: threading.Event) -> None:
        self.inner, self.gate = inner, gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def fetch(self, url: str, destination: Any, max_bytes: int) -> None:
        if threading.current_thread().name == "gated":
            self.gate.wait(30)
        self.inner.fetch(url, destination, max_bytes)


@pytest.mark.embedded_only
def test_a_worker_that_lost_its_claim_touches_nothing_of_the_job(
    api: Api, services: Services, remote: ImageServer
) -> None:
    """Worker A stalls past its lease; worker B takes the job over and
    finishes it. When A wakes, it stores nothing and removes nothing: the
    files under the job's keys are B's, and the category keeps them."""
    import sqlalchemy as sa

    from vitrina.backends.metadata.schema import jobs
    from vitrina.domain.errors import StorageUnavailable
    from vitrina.domain.naming import file_key
    from vitrina.usecases.upload_jobs import JobRunner

    category = api.create()
    start_async(api, category, remote.url("/image.jpg"))
    gate = threading.Event()
    services.fetcher = _GatedFetcher(services.fetcher, gate)
    a, b = JobRunner(services), JobRunner(services)
    stalled = threading.Thread(target=a.run_once, name="gated")
    stalled.start()
    assert wait_until(lambda: a.current is not None)
    engine = services.engine
    assert engine is not None
    with engine.begin() as conn:  # A's lease runs out, as a long pause would let it
        conn.execute(jobs.update().values(lease_until=sa.func.datetime("now", "-1 minute")))
    assert b.run_once() is not None  # B takes the job over and finishes it
    shown = api.category(category)
    kept = {f: _bytes(api, shown[f]) for f in ("thumbnailUrl", "originalImageUrl")}
    real_put = services.blobs.put

    def failing_put(key: str, data: Any, content_type: str) -> None:
        raise StorageUnavailable("a moment's write error")  # what A would meet, storing

    services.blobs.put = failing_put  # type: ignore[method-assign]  # A's stores fail from now on
    gate.set()
    stalled.join(30)
    services.blobs.put = real_put  # type: ignore[method-assign]
    after = api.category(category)
    assert after["thumbnailUrl"] == shown["thumbnailUrl"]
    assert {f: _bytes(api, after[f]) for f in kept} == kept  # B's files, intact
    keys = [file_key(api.store_id, i, "jpg") for i in range(1000, 1004)]
    assert all(services.blobs.serving(k).path.exists() for k in keys)  # type: ignore[union-attr]  # local files
    [job] = services.metadata.jobs.list_jobs()
    assert job.state == "done"
