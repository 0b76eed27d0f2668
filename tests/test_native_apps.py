"""A native app's page (SPEC §9): the console opens the app's iframe URL
with the ``payload`` Ecwid hands an app, decrypted here by code that is not
vitrina's, written from Ecwid's documentation (PHP's getEcwidPayload: undo
url-safe Base64, the IV is the first 16 bytes, AES-128-CBC keyed with the
first 16 characters of the client secret), in Python and in Node.js. The
token inside works, with the app's scopes, until the app is uninstalled;
who may open the page; and the frame's policy, which admits the app's
origin on that page alone."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.testclient import TestClient

from tests.conftest import Api
from vitrina.bootstrap import Services
from vitrina.domain.values import App
from vitrina.usecases import apps as app_cases
from vitrina.usecases.tokens import create_token

IFRAME = "https://app.example/settings?tab=main"


def ecwid_payload(client_secret: str, data: str) -> dict[str, Any]:
    """getEcwidPayload from Ecwid's docs, step by step."""
    key = client_secret[:16].encode("utf-8")  # "16 first bytes of the app's client_secret"
    original = data.replace("-", "+").replace("_", "/")  # url-safe back to Base64
    original += "=" * (-len(original) % 4)  # PHP's base64_decode needs none; Python does
    decoded = base64.b64decode(original, validate=True)
    iv, sealed = decoded[:16], decoded[16:]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(sealed) + decryptor.finalize()
    pad = padded[-1]  # openssl_decrypt removes PKCS#7 padding; by hand here
    assert 1 <= pad <= 16 and padded[-pad:] == bytes([pad]) * pad
    found: dict[str, Any] = json.loads(padded[:-pad])
    return found


NODE = """
const crypto = require("crypto");
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(({ secret, payload }) => {
  const key = Buffer.from(secret.slice(0, 16), "utf8");
  const raw = Buffer.from(payload.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  const decipher = crypto.createDecipheriv("aes-128-cbc", key, raw.subarray(0, 16));
  const plain = Buffer.concat([decipher.update(raw.subarray(16)), decipher.final()]);
  return JSON.parse(plain.toString("utf8"));
});
process.stdout.write(JSON.stringify(out));
"""


def node_payloads(cases: list[dict[str, str]]) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", "-e", NODE],
        input=json.dumps(cases).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def _app(services: Services, api: Api, scopes: tuple[str, ...] = ("read_catalog",)) -> App:
    app, _ = app_cases.create(services, api.store_id, "Panel", scopes, iframe_url=IFRAME)
    return app


def _stops_working(client: TestClient, store_id: int, token: str) -> bool:
    """A revocation reaches every process within 2 seconds (its token cache)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = client.get(
            f"/api/v3/{store_id}/profile", headers={"Authorization": f"Bearer {token}"}
        )
        if answer.status_code == 403:
            return True
        time.sleep(0.2)
    return False


def _open(api: Api, app: App) -> tuple[str, str]:
    """The URL the console frames, and its payload."""
    answer = api.post(f"/_webhooks/apps/{app.id}/page")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    url: str = answer.json()["url"]
    assert answer.json()["expiresAt"].endswith("Z")
    (payload,) = parse_qs(urlsplit(url).query)["payload"]
    return url, payload


def test_the_payload_decrypts_as_ecwids_docs_say_and_its_token_works(
    api: Api, services: Services, client: TestClient
) -> None:
    category = api.create(name="Shoes")
    hidden = api.create(name="Hidden", enabled=False)
    app = _app(services, api, ("read_catalog", "public_storefront"))
    url, payload = _open(api, app)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.example/settings"
    assert parse_qs(parts.query)["tab"] == ["main"]  # the app's own query is kept
    assert "=" not in payload and "+" not in payload and "/" not in payload  # url-safe, unpadded

    data = ecwid_payload(app.client_secret, payload)
    assert set(data) == {"store_id", "access_token", "public_token", "lang", "view_mode"}
    assert data["store_id"] == api.store_id
    assert data["lang"] == "en" and data["view_mode"] == "PAGE"
    assert data["access_token"].startswith("secret_")
    assert data["public_token"].startswith("public_")

    mine = Api(client, api.store_id, data["access_token"])
    assert mine.get(f"/categories/{hidden}").status_code == 200  # read_catalog: hidden ones too
    assert mine.post("/categories", json={"name": "No"}).status_code == 403  # the app's scopes
    public = Api(client, api.store_id, data["public_token"])
    assert public.get(f"/categories/{category}").status_code == 200
    assert public.get(f"/categories/{hidden}").status_code == 404

    # uninstalled: the page's tokens stop working, and there is no page to open
    assert api.post(f"/_webhooks/apps/{app.id}/uninstall").status_code == 200
    for token in (data["access_token"], data["public_token"]):
        assert _stops_working(client, api.store_id, token)
    closed = api.post(f"/_webhooks/apps/{app.id}/page")
    assert closed.status_code == 409 and "not installed" in closed.json()["errorMessage"]


def test_each_opening_has_its_own_iv_and_token(api: Api, services: Services) -> None:
    app = _app(services, api)
    first, second = (_open(api, app)[1] for _ in range(2))
    raw = [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in (first, second)]
    assert raw[0][:16] != raw[1][:16]
    tokens = [ecwid_payload(app.client_secret, p)["access_token"] for p in (first, second)]
    assert tokens[0] != tokens[1]
    assert "public_token" not in ecwid_payload(app.client_secret, first)  # no public_storefront


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_nodes_crypto_decrypts_the_payload_too(api: Api, services: Services) -> None:
    apps = [_app(services, api), _app(services, api, ("read_catalog", "public_storefront"))]
    cases = [{"secret": a.client_secret, "payload": _open(api, a)[1]} for a in apps]
    decrypted = node_payloads(cases)
    for case, data in zip(cases, decrypted, strict=True):
        assert data == ecwid_payload(case["secret"], case["payload"])
        assert data["store_id"] == api.store_id


def test_who_may_open_the_page(api: Api, services: Services, client: TestClient) -> None:
    app = _app(services, api, ("read_catalog", "update_catalog"))
    plain, _ = app_cases.create(services, api.store_id, "Hooks only")
    no_page = api.post(f"/_webhooks/apps/{plain.id}/page")
    assert no_page.status_code == 409 and "no iframe URL" in no_page.json()["errorMessage"]
    assert api.post("/_webhooks/apps/999/page").status_code == 404
    reader, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}))
    lacking = Api(client, api.store_id, reader).post(f"/_webhooks/apps/{app.id}/page")
    assert lacking.status_code == 403 and "update_catalog" in lacking.json()["errorMessage"]
    public, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}), True)
    assert Api(client, api.store_id, public).post(f"/_webhooks/apps/{app.id}/page").status_code == (
        403
    )


# -- the frame's page and its policy ----------------------------------------------------------


def test_the_frame_page_admits_the_apps_origin_and_nothing_else(client: TestClient) -> None:
    page = client.get(
        "/console/app-page.html", params={"app": "1", "origin": "https://app.example"}
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy.endswith("; frame-src https://app.example")
    assert "frame-ancestors 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe" not in policy
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["referrer-policy"] == "no-referrer"
    port = client.get("/console/app-page.html", params={"origin": "http://127.0.0.1:8765"})
    assert "frame-src http://127.0.0.1:8765" in port.headers["content-security-policy"]
    # the console itself frames nothing but its own pages, and nothing frames it
    console = client.get("/console/").headers["content-security-policy"]
    assert "frame-src" not in console and "frame-ancestors 'none'" in console


@pytest.mark.parametrize(
    "origin",
    [
        "",
        "https://app.example; script-src *",
        "https://app.example *",
        "https://app.example/path",
        "https://user@app.example",
        "javascript:alert(1)",
        "data:text/html,x",
        "*",
        "'self'",
        "https://app.example:99999",
        "https://app.example\n",
    ],
)
def test_the_frame_page_refuses_anything_but_an_origin(client: TestClient, origin: str) -> None:
    answer = client.get("/console/app-page.html", params={"origin": origin})
    assert answer.status_code == 400
    assert "frame-src" not in answer.headers.get("content-security-policy", "")


# -- what docs/apps.md gives app developers, run as it is --------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "apps.md"


def _block(language: str, holding: str) -> str:
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)
    (found,) = [b for b in blocks if holding in b]
    return found


def test_the_docs_python_opens_the_payload(api: Api, services: Services) -> None:
    app = _app(services, api, ("read_catalog", "public_storefront"))
    payload = _open(api, app)[1]
    scope: dict[str, Any] = {}
    exec(_block("python", "def open_payload"), scope)  # noqa: S102  # the page's own code
    assert scope["open_payload"](payload, app.client_secret) == ecwid_payload(
        app.client_secret, payload
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_docs_nodejs_opens_the_payload(api: Api, services: Services) -> None:
    app = _app(services, api)
    payload = _open(api, app)[1]
    script = _block("js", "function openPayload") + (
        "\nconst c = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "\nprocess.stdout.write(JSON.stringify(openPayload(c.payload, c.secret)));"
    )
    done = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"payload": payload, "secret": app.client_secret}).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert json.loads(done.stdout) == ecwid_payload(app.client_secret, payload)
