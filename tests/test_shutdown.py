"""Graceful shutdown and readiness: SIGTERM lets an upload in flight finish
(its client gets 200, no file is left behind) and the process exit 0; a
draining server says so on /readyz while it still serves; running async jobs
are handed back at once; an old queued job makes the node not ready."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api
from tests.processes import start_serve, stop, wait_ready
from vitrina.bootstrap import Services
from vitrina.domain.values import CategoryChanges
from vitrina.settings import Settings
from vitrina.usecases import category_images as image_cases
from vitrina.usecases.upload_jobs import JobWorker
from vitrina.web.app import create_app


def _slowly(data: bytes, pieces: int = 20, pause: float = 0.1) -> Iterator[bytes]:
    step = len(data) // pieces + 1
    for start in range(0, len(data), step):
        time.sleep(pause)
        yield data[start : start + step]


@pytest.mark.slow
def test_sigterm_lets_an_upload_in_flight_finish(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_serve(data)
    wait_ready(server)
    token = server.token()
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{server.base}/api/v3/1"
    category = httpx.post(f"{base}/categories", json={"name": "Late"}, headers=auth).json()["id"]
    photo = images.phone_jpeg()
    answers: list[httpx.Response] = []

    def upload() -> None:
        answers.append(
            httpx.post(
                f"{base}/categories/{category}/image",
                content=_slowly(photo),
                headers={**auth, "Content-Length": str(len(photo))},
                timeout=60,
            )
        )

    sender = threading.Thread(target=upload)
    sender.start()
    time.sleep(0.8)  # the body is on its way
    server.process.send_signal(signal.SIGTERM)
    sender.join(60)
    assert server.process.wait(60) == 0, server.output()
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    gc = subprocess.run(
        [sys.executable, "-m", "vitrina", "gc", "--grace-seconds", "0", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "removed 0 unreferenced files" in gc.stdout  # nothing orphaned
    files = list((data / "files").rglob("*.*"))
    assert len(files) == 4  # the four files of the one image


@pytest.mark.slow
def test_a_draining_server_is_not_ready_but_still_serves(tmp_path: Path) -> None:
    server = start_serve(tmp_path / "data", env={"VITRINA_SHUTDOWN_DRAIN_SECONDS": "3"})
    try:
        wait_ready(server)
        token = server.token()
        with httpx.Client(base_url=server.base) as http:
            assert http.get("/readyz").status_code == 200
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            draining = http.get("/readyz")
            assert draining.status_code == 503
            assert "Shutting down" in draining.json()["errorMessage"]
            served = http.get("/api/v3/1/profile", headers={"Authorization": f"Bearer {token}"})
            assert served.status_code == 200
        assert server.process.wait(30) == 0
    finally:
        if server.process.poll() is None:
            stop(server.process)


def test_running_jobs_are_handed_back_on_stop(services: Services) -> None:
    store = services.metadata.stores.create_store("Shop", "https://shop.example.com")
    category = services.metadata.catalog.create_category(store.id, CategoryChanges(name="Remote"))[
        0
    ]
    image_cases.start_async(
        services, store, category, "https://images.example/a.jpg", 10, 10, None, None
    )
    worker = JobWorker(services)  # not started: its first runner stands in for a busy thread
    runner = worker._runners[0]
    job = services.metadata.jobs.claim_job(runner.name, 600)
    assert job is not None
    assert services.metadata.jobs.claim_job("another-node", 600) is None  # leased
    runner.current = job
    worker.stop(timeout=0)
    again = services.metadata.jobs.claim_job("another-node", 600)
    assert again is not None and again.id == job.id  # at once, not after the lease


def test_an_old_queued_job_makes_the_node_not_ready(
    services: Services, settings: Settings, api: Api
) -> None:
    services.settings = settings.replace(ready_max_job_age_seconds=1)
    with TestClient(create_app(services.settings, services)) as client:
        assert client.get("/readyz").status_code == 200
        category = api.create(name="Waiting")
        api.post(
            f"/categories/{category}/image/async",
            json={"url": "https://images.example/a.jpg", "width": 10, "height": 10},
        )
        time.sleep(1.2)
        late = client.get("/readyz")
    assert late.status_code == 503
    assert "oldest queued async upload" in late.json()["errorMessage"]
