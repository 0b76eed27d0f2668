"""No log line of any logger carries a token, an Authorization value or URL
credentials: the real server, in both log formats, in one process and in
two (uvicorn's worker processes set their logging up again)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests import sample_images as images
from tests.processes import start_serve, stop, wait_ready, wait_until

pytestmark = pytest.mark.slow

SIGNED = (
    "https://photographer:hunter2-password@images.example.com/a.jpg"
    "?X-Amz-Credential=AKIAEXAMPLE%2F20261206&X-Amz-Signature=5ecret5ignature&sig=0ther5ig"
)
# the worker refuses it (a loopback address), and logs why
SIGNED_LOOPBACK = (
    "https://127.0.0.1/a.jpg"
    "?X-Amz-Credential=AKIAEXAMPLE%2F20261206&X-Amz-Signature=5ecret5ignature"
)
SECRETS = ("hunter2-password", "5ecret5ignature", "0ther5ig", "AKIAEXAMPLE", "secret_wrong")


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_log_line_carries_a_secret(tmp_path: Path, log_format: str, workers: str) -> None:
    server = start_serve(
        tmp_path / "data",
        "--workers",
        workers,
        env={"VITRINA_LOG_FORMAT": log_format, "VITRINA_LOG_LEVEL": "debug"},
    )
    served_from = len(server.output())  # what follows is serve's own output, not demo's
    try:
        wait_ready(server)
        token = server.token()
        base = server.base + "/api/v3/1"
        bearer = {"Authorization": f"Bearer {token}"}
        category = httpx.post(f"{base}/categories", json={"name": "Logged"}, headers=bearer)
        category_id = category.json()["id"]
        for _ in range(4):  # a connection each: with two processes, both answer some
            assert httpx.get(f"{base}/categories", params={"token": token}).status_code == 200
        ruby = {"Authorization": f'Token token="{token}"'}
        assert httpx.get(f"{base}/profile", params={"token": token}, headers=ruby).status_code == (
            200
        )
        assert httpx.get(f"{base}/profile", params={"token": "secret_wrong"}).status_code == 403
        assert httpx.get(
            f"{base}/profile", headers={"Authorization": "Bearer secret_wrong"}
        ).status_code == (403)
        with_userinfo = server.base.replace("http://", f"http://u:{token}@") + "/api/v3/1/profile"
        httpx.get(with_userinfo)
        refused = httpx.post(
            f"{base}/categories/{category_id}/image",
            params={"externalUrl": SIGNED, "token": token},
        )
        assert refused.status_code == 422  # not a public address here: refused, and logged
        upload = httpx.post(
            f"{base}/categories/{category_id}/image", content=images.jpeg(640, 480), headers=bearer
        )
        assert upload.status_code == 200
        job = httpx.post(
            f"{base}/categories/{category_id}/image/async",
            json={"url": SIGNED_LOOPBACK, "width": 10, "height": 10},
            headers=bearer,
        )
        assert job.status_code == 200
        assert wait_until(lambda: "attempt 1 failed" in server.output(), 20), server.output()
        oauth = _install_by_oauth(server.base, bearer)
    finally:
        stop(server.process)
    served = server.output()[served_from:]
    assert token not in served and token.removeprefix("secret_")[:16] not in served
    for secret in (*SECRETS, *oauth):
        assert secret not in served, secret
    access = [line for line in served.splitlines() if "vitrina.access" in line]
    assert len(access) >= 10, served[-3000:]  # the lines are there, only their secrets are not
    if log_format == "json":
        lines = [json.loads(line) for line in access]
        profile = [r for r in lines if r["path"] == "/api/v3/1/profile"]
        assert profile and all("token" not in r["query"] for r in profile)
        refused_line = next(r for r in lines if r["error_code"] == "WRONG_URL")
        assert "externalUrl=https" in refused_line["query"]
        assert "REDACTED@images.example.com" in refused_line["query"]
    else:
        assert any(re.search(r"GET /api/v3/1/categories 200 [0-9.]+ ms", a) for a in access)
        assert any("externalUrl=https://REDACTED@images.example.com" in a for a in access)
        exchanged = [a for a in access if "GET /api/oauth/token" in a]
        assert exchanged and all("client_secret=REDACTED&code=REDACTED" in a for a in exchanged)


def _install_by_oauth(base: str, bearer: dict[str, str]) -> tuple[str, ...]:
    """An app installed by OAuth, its code exchanged by GET (the query then
    holds the client secret and the code), twice, and its token sent in the
    query: what must never be written down."""
    callback = "http://127.0.0.1:9/cb"
    made = httpx.post(
        f"{base}/api/v3/1/_webhooks/apps",
        json={"name": "Logged app", "redirectUri": callback},
        headers=bearer,
    ).json()
    installed = httpx.post(
        f"{base}/api/oauth/authorize",
        json={
            "client_id": made["clientId"],
            "redirect_uri": callback,
            "response_type": "code",
            "scope": "read_catalog",
            "state": "s",
        },
        headers=bearer,
    )
    assert installed.status_code == 200, installed.text
    code = installed.json()["location"].split("code=")[1].split("&")[0]
    query = {
        "client_id": made["clientId"],
        "client_secret": made["clientSecret"],
        "code": code,
        "redirect_uri": callback,
        "grant_type": "authorization_code",
    }
    token = httpx.get(f"{base}/api/oauth/token", params=query).json()["access_token"]
    assert httpx.get(f"{base}/api/v3/1/categories", params={"token": token}).status_code == 200
    assert httpx.get(f"{base}/api/oauth/token", params=query).status_code == 400  # used
    wrong = {**query, "client_secret": made["clientSecret"][::-1]}
    assert httpx.post(f"{base}/api/oauth/token", data=wrong).status_code == 401
    return made["clientSecret"], made["clientSecret"][::-1], code, token
