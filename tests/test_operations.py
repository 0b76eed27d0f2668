"""What operators see: /metrics behind its token, request ids on every
answer and log line, JSON logs without secrets, one set of metrics across
server processes, and a dashboard that names only metrics that exist."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, make_store
from tests.processes import start_serve, stop, wait_ready
from vitrina.bootstrap import Services
from vitrina.settings import Settings
from vitrina.web.app import create_app

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"
METRICS_TOKEN = "metrics-secret-for-tests"


def _types(exposition: str) -> dict[str, str]:
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M))


def _base(name: str) -> str:
    return re.sub(r"_(total|bucket|sum|count)$", "", name)


def test_metrics_are_off_by_default_and_need_their_token(api: Api) -> None:
    assert api.client.get("/metrics").status_code == 404


def test_metrics_report_requests_uploads_and_jobs(
    services: Services, settings: Settings, api: Api
) -> None:
    services.settings = settings.replace(metrics_token=METRICS_TOKEN)
    with TestClient(create_app(services.settings, services)) as client:
        store = make_store(services, client)
        category = store.create(name="Measured")
        assert store.upload(category, images.phone_jpeg()).status_code == 200
        store.get(f"/categories/{category}")
        store.get("/categories/424242")
        client.request("BREW", "/healthz")  # a made-up method is counted as "other"
        store.post(
            f"/categories/{category}/image/async",
            json={"url": "https://images.example/a.jpg", "width": 10, "height": 10},
        )
        assert client.get("/metrics").status_code == 403
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    route = re.escape("/api/v3/{storeId}/categories/{categoryId}")
    counted = rf'vitrina_http_requests_total{{method="GET",route="{route}",status="404"}} [1-9]'
    assert re.search(counted, text)
    assert re.search(
        r'vitrina_http_requests_total{method="other",route="/healthz",status="405"} [1-9]', text
    )
    assert "BREW" not in text
    for stage in ("spool", "probe", "decode_fit", "store", "commit"):
        assert re.search(rf'vitrina_upload_stage_seconds_count{{stage="{stage}"}} [1-9]', text)
    assert re.search(r'vitrina_upload_bytes_total{direction="in"} [1-9]', text)
    assert re.search(r'vitrina_jobs{state="queued"} [1-9]', text)
    assert re.search(r"vitrina_jobs_oldest_queued_seconds [0-9.]+", text)
    assert api.token not in text and store.token not in text


def test_the_dashboard_names_only_metrics_that_exist(
    services: Services, settings: Settings
) -> None:
    services.settings = settings.replace(metrics_token=METRICS_TOKEN)
    with TestClient(create_app(services.settings, services)) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    exposed = {_base(name) for name in _types(text)}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {_base(name) for expr in expressions for name in re.findall(r"\bvitrina_[a-z_]+", expr)}
    assert len(named) >= 12
    assert named <= exposed, named - exposed


def test_every_answer_carries_a_request_id(api: Api) -> None:
    made = api.get("/categories")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    given = api.get("/categories", headers={"X-Request-Id": "checkout-42.a"})
    assert given.headers["x-request-id"] == "checkout-42.a"
    error = api.get("/categories/999", headers={"X-Request-Id": "trace:1"})
    assert error.status_code == 404 and error.headers["x-request-id"] == "trace:1"
    hostile = api.get(
        "/categories", headers={"X-Request-Id": "a b\u00e9".encode("latin-1") + b"x" * 300}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
    assert api.client.get("/healthz").headers["x-request-id"]
    made_ids = {api.get("/categories").headers["x-request-id"] for _ in range(50)}
    assert len(made_ids) == 50 and made.headers["x-request-id"] not in made_ids


def test_request_ids_differ_between_processes() -> None:
    """Made ids start with a prefix drawn per process (a forked child draws anew)."""
    import os

    from vitrina.web.observe import _ids

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id, then leave at once
        os.write(write, _ids.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    mine = _ids.next()
    assert len(child) == len(mine) == 32 and child[:16] != mine[:16]


@pytest.mark.slow
def test_json_logs_one_line_per_request_and_never_a_token(tmp_path: Path) -> None:
    server = start_serve(
        tmp_path / "data",
        env={"VITRINA_LOG_FORMAT": "json", "VITRINA_LOG_LEVEL": "info"},
    )
    try:
        wait_ready(server)
        token = server.token()
        auth = {"Authorization": f"Bearer {token}", "X-Request-Id": "req-upload-1"}
        base = server.base + "/api/v3/1"
        category = httpx.post(f"{base}/categories", json={"name": "Logged"}, headers=auth).json()
        httpx.post(f"{base}/categories/{category['id']}/image", content=images.jpeg(900, 700),
                   headers=auth)  # fmt: skip
        httpx.get(f"{base}/categories/{category['id']}", params={"token": token})
        refused = httpx.post(
            f"{base}/categories/{category['id']}/image",
            params={"externalUrl": "http://127.0.0.1/x.jpg", "token": token},
            headers={"X-Request-Id": "req-refused-2"},
        )
        assert refused.status_code == 422
        later = httpx.post(  # a job that fails in the worker: a private address
            f"{base}/categories/{category['id']}/image/async",
            json={"url": "https://127.0.0.1/x.jpg", "width": 10, "height": 10},
            headers={**auth, "X-Request-Id": "req-async-3"},
        )
        assert later.status_code == 200
        deadline = time.monotonic() + 20
        while "attempt 1 failed" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop(server.process)
    text = server.output()
    start = re.search(r"^vitrina \S+ on http", text, re.M)  # serve's output, after demo's
    assert start is not None, text
    served = text[start.start() :]
    lines = [line for line in served.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert token not in served and token[-12:] not in served
    access = [r for r in records if r["logger"] == "vitrina.access"]
    upload = next(
        r for r in access if r.get("request_id") == "req-upload-1" and r["route"].endswith("/image")
    )
    assert upload["status"] == 200 and upload["store_id"] == 1 and upload["bytes"] > 0
    assert upload["duration_ms"] > 0
    refused_lines = [r for r in records if r.get("request_id") == "req-refused-2"]
    assert {r["logger"] for r in refused_lines} >= {
        "vitrina.access",
        "vitrina.images",
    }
    assert next(r for r in refused_lines if r["logger"] == "vitrina.access")["error_code"] == (
        "WRONG_URL"
    )
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    job_lines = [r for r in records if r["logger"] == "vitrina.jobs"]
    assert job_lines and all(r.get("request_id") == "req-async-3" for r in job_lines)


@pytest.mark.slow
def test_metrics_are_one_set_across_server_processes(tmp_path: Path) -> None:
    server = start_serve(
        tmp_path / "data",
        "--workers",
        "2",
        env={"VITRINA_METRICS_TOKEN": METRICS_TOKEN},
    )
    try:
        wait_ready(server)
        token = server.token()
        for _ in range(60):  # a connection each, so both processes answer some
            httpx.get(
                f"{server.base}/api/v3/1/profile", headers={"Authorization": f"Bearer {token}"}
            )
        counts = []
        for _ in range(6):
            scrape = httpx.get(
                f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            ).text
            found = re.search(
                r'vitrina_http_requests_total{method="GET",route="/api/v3/{storeId}/profile",'
                r'status="200"} ([0-9.]+)',
                scrape,
            )
            assert found, scrape[:2000]
            counts.append(float(found[1]))
    finally:
        stop(server.process)
    assert all(count == 60 for count in counts), counts
