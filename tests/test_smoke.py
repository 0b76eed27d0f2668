"""The real `vitrina serve` process on a free port, used as a client would."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests import sample_images as images
from tests.processes import vitrina_serve
from vitrina.bootstrap import build_services
from vitrina.settings import Settings

pytestmark = pytest.mark.slow


def test_first_run_prints_a_working_token_and_serves_the_api(tmp_path: Path) -> None:
    with vitrina_serve(tmp_path / "data") as server:
        output = server.output()
        token = server.token()
        assert "curl -H 'Authorization: Bearer secret_" in output
        assert f"{server.base}/docs" in output
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            profile = client.get("/api/v3/1/profile").json()
            assert profile["generalInfo"]["storeId"] == 1
            category_id = client.post("/api/v3/1/categories", json={"name": "Toys"}).json()["id"]
            response = client.post(
                f"/api/v3/1/categories/{category_id}/image",
                content=images.jpeg(2000, 1500),
                headers={"Content-Type": "image/jpeg;"},
            )
            assert response.status_code == 200, response.text
            data = client.get(f"/api/v3/1/categories/{category_id}").json()
            assert data["thumbnailUrl"].startswith(server.base + "/images/1/")
            file = httpx.get(data["thumbnailUrl"], timeout=10)
            assert file.status_code == 200
            assert images.decode(file.content).size == (400, 300)
    # A second start keeps the data and does not print a new token.
    with vitrina_serve(tmp_path / "data") as again:
        assert "secret_" not in again.output()
        response = httpx.get(
            f"{again.base}/api/v3/1/categories/{category_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.json()["name"] == "Toys"


def test_several_worker_processes_share_one_data_directory(tmp_path: Path) -> None:
    with vitrina_serve(
        tmp_path / "data", "--workers", "2", env={"VITRINA_JOB_POLL_SECONDS": "0.2"}
    ) as server:
        headers = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
            ids = [
                client.post("/api/v3/1/categories", json={"name": f"C{i}"}).json()["id"]
                for i in range(6)
            ]
            for category_id in ids:
                response = client.post(
                    f"/api/v3/1/categories/{category_id}/image", content=images.png(200, 100)
                )
                assert response.status_code == 200
            # An async job pointing nowhere reachable fails once, in one worker only.
            response = client.post(
                f"/api/v3/1/categories/{ids[0]}/image/async",
                json={"url": "https://127.0.0.1/none.jpg", "width": 1, "height": 1},
            )
            assert response.status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                data = client.get(f"/api/v3/1/categories/{ids[0]}").json()
                if not data["thumbnailUrl"].startswith("https://127.0.0.1"):
                    break
                time.sleep(0.2)
            assert data["thumbnailUrl"].startswith(server.base)  # back to the previous image
    services = build_services(Settings(data_dir=tmp_path / "data"))
    [job] = services.metadata.jobs.list_jobs()
    services.close()
    assert job.state == "failed"
    assert job.attempts == 1  # run once, by one worker, not once per server process
    assert "public internet address" in job.last_error
