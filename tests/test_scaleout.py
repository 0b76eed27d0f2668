"""Several real `vitrina serve` processes over one PostgreSQL and one S3 bucket
(SeaweedFS): concurrency, crashes (SIGKILL) and concurrent migrations."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import sample_images as images
from tests.processes import Server, start_serve, vitrina_serve, wait_ready
from tests.servers import ImageServer, image_server
from tests.services import BUCKET, S3, Postgres
from vitrina.backends.metadata import migrate
from vitrina.bootstrap import build_services
from vitrina.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def shared(postgres: Postgres, s3: S3) -> Iterator[dict[str, str]]:
    """The environment of a deployment: one database, one bucket prefix."""
    with postgres.database() as url:
        yield {"VITRINA_DATABASE_URL": url, **s3.environment(uuid.uuid4().hex)}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[ImageServer]:
    with image_server(tmp_path / "tls", images.jpeg(1200, 900)) as server:
        yield server


def fetch_env(server: ImageServer) -> dict[str, str]:
    return {
        "VITRINA_FETCH_ALLOW_NETWORKS": "127.0.0.1/32",
        "VITRINA_FETCH_PORTS": str(server.port),
        "VITRINA_FETCH_CA_BUNDLE": str(server.ca_file),
        "VITRINA_JOB_POLL_SECONDS": "0.2",
    }


def services_for(env: dict[str, str], data_dir: Path) -> Any:
    return build_services(Settings.from_env({**env, "VITRINA_DATA_DIR": str(data_dir)}))


def wait_for_jobs(env: dict[str, str], data_dir: Path, timeout: float) -> None:
    """Until no async job is queued or running (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        services = services_for(env, data_dir)
        try:
            metadata = services.metadata
            if not metadata.jobs.list_jobs(state="queued") + metadata.jobs.list_jobs(
                state="running"
            ):
                return
        finally:
            services.close()
        time.sleep(0.3)


def check_consistent(env: dict[str, str], data_dir: Path, base: str) -> int:
    """Every category points at complete files, and the bucket holds nothing
    else (after a sweep). Returns the number of images checked."""
    services = services_for(env, data_dir)
    try:
        assert services.metadata.jobs.list_jobs(state="queued") == []
        assert services.metadata.jobs.list_jobs(state="running") == []
        from vitrina.usecases import category_images as image_cases

        image_cases.sweep(services, grace_seconds=0)
        referenced: set[str] = set()
        checked = 0
        for store in services.metadata.stores.list_stores():
            for category in services.metadata.catalog.list_categories(store.id):
                if category.image is None:
                    continue
                checked += 1
                assert category.image.pending_url is None
                assert len(category.image.files) == 4
                for file in category.image.files:
                    referenced.add(f"{store.id}/{file.blob}.{file.ext}")  # its bytes
                    response = httpx.get(  # a 307 to the bucket, followed
                        f"{base}/images/{store.id}/{file.id}.{file.ext}",
                        timeout=30,
                        follow_redirects=True,
                    )
                    assert response.status_code == 200
                    assert len(response.content) == file.size
        stored = {entry.key for entry in services.blobs.list()}
        assert stored == referenced
        return checked  # images may share files (identical uploads are stored once)
    finally:
        services.close()


def test_two_multi_process_servers_share_one_database_and_bucket(
    tmp_path: Path, shared: dict[str, str], source: ImageServer
) -> None:
    env = {**shared, **fetch_env(source)}
    with ExitStack() as stack:
        first = stack.enter_context(vitrina_serve(tmp_path / "a", "--workers", "2", env=env))
        second = stack.enter_context(vitrina_serve(tmp_path / "b", "--workers", "2", env=env))
        token = first.token()
        headers = {"Authorization": f"Bearer {token}"}
        servers = [first, second]
        with httpx.Client(headers=headers, timeout=60) as client:
            categories = [
                client.post(f"{first.base}/api/v3/1/categories", json={"name": f"C{i}"}).json()[
                    "id"
                ]
                for i in range(6)
            ]
            rng = random.Random(5)
            operations = [
                (rng.choice(servers), rng.choice(categories), rng.random()) for _ in range(60)
            ]

            def run(op: tuple[Server, int, float]) -> int:
                server, category_id, dice = op
                path = f"{server.base}/api/v3/1/categories/{category_id}/image"
                if dice < 0.6:
                    body = images.jpeg(400 + int(dice * 400), 300)
                    return client.post(path, content=body).status_code
                if dice < 0.8:
                    return client.delete(path).status_code
                return client.post(
                    path + "/async",
                    json={
                        "url": source.url("/image.jpg", host="127.0.0.1"),
                        "width": 5,
                        "height": 5,
                    },
                ).status_code

            with ThreadPoolExecutor(6) as pool:
                codes = list(pool.map(run, operations))
            assert set(codes) == {200}
            wait_for_jobs(shared, tmp_path / "check", timeout=60)
        checked = check_consistent(shared, tmp_path / "check", second.base)
        assert checked >= 1
    services = services_for(shared, tmp_path / "check")
    jobs = services.metadata.jobs.list_jobs(limit=1000)
    services.close()
    # a job whose image was replaced or deleted before it ran is cancelled, never run
    assert jobs and {job.state for job in jobs} <= {"done", "cancelled"}
    assert all(job.attempts <= 1 for job in jobs)  # each ran once at most, though four polled


def test_sigkill_mid_uploads_and_jobs_loses_nothing_and_leaves_nothing_dangling(
    tmp_path: Path, shared: dict[str, str], source: ImageServer
) -> None:
    env = {
        **shared,
        **fetch_env(source),
        "VITRINA_JOB_LEASE_SECONDS": "6",
        "VITRINA_FETCH_TOTAL_TIMEOUT": "5",
    }
    data = tmp_path / "node"
    with vitrina_serve(data, env=env) as first:
        token = first.token()
    server = start_serve(data, env=env, new_session=True)
    process, base = server.process, server.base
    headers = {"Authorization": f"Bearer {token}"}
    try:
        wait_ready(server)
        with httpx.Client(headers=headers, timeout=30) as client:
            categories = [
                client.post(f"{base}/api/v3/1/categories", json={"name": f"K{i}"}).json()["id"]
                for i in range(4)
            ]
            for category_id in categories:  # a first image everywhere
                client.post(
                    f"{base}/api/v3/1/categories/{category_id}/image", content=images.png(50, 50)
                )
            for category_id in categories[:2]:  # jobs whose download takes 3 s (/hang)
                client.post(
                    f"{base}/api/v3/1/categories/{category_id}/image/async",
                    json={"url": source.url("/hang", host="127.0.0.1"), "width": 1, "height": 1},
                )

            def keep_uploading(category_id: int) -> None:
                for _ in range(50):
                    try:
                        client.post(
                            f"{base}/api/v3/1/categories/{category_id}/image",
                            content=images.jpeg(1500, 1000),
                        )
                    except httpx.HTTPError:
                        return  # the server is gone

            with ThreadPoolExecutor(2) as pool:
                uploads = [pool.submit(keep_uploading, c) for c in categories[2:]]
                time.sleep(1.5)  # mid-upload, mid-download
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                for future in uploads:
                    future.result(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    # Restart: the jobs' leases run out and they are taken up again.
    with vitrina_serve(data, env=env) as again:
        wait_for_jobs(shared, tmp_path / "check", timeout=90)
        assert check_consistent(shared, tmp_path / "check", again.base) == 4
    services = services_for(shared, tmp_path / "check")
    jobs = services.metadata.jobs.list_jobs()
    services.close()
    assert len(jobs) == 2
    for job in jobs:
        assert job.state in ("done", "failed")
        assert job.state == "done" or job.last_error


def test_concurrent_migrations_from_several_machines(tmp_path: Path, postgres: Postgres) -> None:
    with postgres.database() as url:
        env = {**os.environ, "VITRINA_DATABASE_URL": url, "VITRINA_DATA_DIR": str(tmp_path)}
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "vitrina", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        outputs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
        assert all(f"revision {migrate.head()}".encode() in out for out, _ in outputs)
        import sqlalchemy as sa

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM file_ids").scalar() == 1
        engine.dispose()


def test_bucket_name_is_the_configured_one(shared: dict[str, str]) -> None:
    assert shared["VITRINA_STORAGE_URL"].startswith(f"s3://{BUCKET}/")
