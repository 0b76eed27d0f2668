"""An app's install end to end, as a developer meets it: the real `vitrina
serve` on loopback (SQLite, and PostgreSQL), Chromium (Debian's, driven by
Playwright) signing the store owner in on the consent page and pressing
Install or Cancel, and on the app's side code vitrina did not write:

- authlib's OAuth2Session, unmodified, builds the authorize URL, checks the
  state, exchanges the code (client_secret_basic, its default) and calls the
  API with the token;
- examples/oauth_app.py (docs/apps.md), run as it is: installed from its own
  page, it hears its webhooks, and its native page opens in the console's
  Apps page with the payload it decrypts.

Every page also logs no error and breaks no Content-Security-Policy rule."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests

from tests.processes import (
    Server,
    free_port,
    interruptible,
    stop,
    vitrina_serve,
    wait_for,
    wait_until,
)
from tests.receiver import Receiver, receiver

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="scripts/test-deps.sh installs chromium"),
]
LOCAL_WEBHOOKS = {
    "VITRINA_WEBHOOK_ALLOW_HTTP": "true",
    "VITRINA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "VITRINA_WEBHOOK_RETRY_SECONDS": "1,1,1",
}
_WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@dataclass
class Vitrina:
    server: Server
    env: dict[str, str]
    data_dir: Path

    @property
    def base(self) -> str:
        return self.server.base

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.server.token()}"}
        return httpx.Client(base_url=f"{self.base}/api/v3/1", headers=headers, timeout=10)

    def signin_link(self) -> str:
        """What `vitrina console-link --store 1` prints, run as a person would."""
        command = [sys.executable, "-m", "vitrina", "console-link", "--store", "1"]
        command += ["--data-dir", str(self.data_dir)]
        port = self.base.rsplit(":", 1)[1]  # the link names the server's address
        env = {**os.environ, **self.env, "VITRINA_LOG_LEVEL": "warning", "VITRINA_PORT": port}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip().splitlines()[0]

    def create_app(self, **fields: Any) -> dict[str, Any]:
        with self.api() as api:
            answer = api.post("/_webhooks/apps", json=fields)
        assert answer.status_code == 200, answer.text
        created: dict[str, Any] = answer.json()
        return created


@pytest.fixture(params=["sqlite", pytest.param("postgresql")])
def vitrina(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Vitrina]:
    env = {**LOCAL_WEBHOOKS, "VITRINA_LOG_LEVEL": "info"}  # with the access log
    with _database(request) as url:
        if url:
            env["VITRINA_DATABASE_URL"] = url
        data_dir = tmp_path / "data"
        with vitrina_serve(data_dir, env=env) as server:
            yield Vitrina(server, env, data_dir)


def _database(request: pytest.FixtureRequest) -> Any:
    """A fresh PostgreSQL database's URL, or "" for SQLite in the data folder."""
    if request.param == "sqlite":
        return contextlib.nullcontext("")
    return request.getfixturevalue("postgres").database()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(_WATCH_CSP)
    opened = context.new_page()
    problems: list[str] = []

    def on_console(message: Any) -> None:
        # a 4xx the page provokes and explains is not a problem; nothing else may be logged
        failed = re.fullmatch(r"Failed to load resource: .* status of 4\d\d .*", message.text)
        if message.type == "error" and failed is None:
            problems.append(message.text)

    opened.on("console", on_console)
    opened.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    yield opened
    opened.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    violations = [v for frame in opened.frames for v in frame.evaluate("window.__csp || []")]
    context.close()
    assert problems == [], problems
    assert violations == [], violations


def _sign_in_on_the_consent_page(page: Any, vitrina: Vitrina) -> None:
    page.wait_for_selector("#consent-signin:not([hidden])")
    assert page.is_disabled("#install")
    page.fill("#signin-value", vitrina.signin_link())
    page.click("#signin-submit")
    _ready_to_install(page, vitrina)
    assert "Signed in to" in page.inner_text("#who")


def _ready_to_install(page: Any, vitrina: Vitrina) -> None:
    """Install is enabled (the tab's session checked); else say what the page
    says, and the server's last requests (a flake once left it waiting)."""
    try:
        page.wait_for_selector("#install:not([disabled])", timeout=60_000)
    except Exception as timeout:
        said = page.evaluate(
            "['who', 'signin-error', 'consent-error'].map((id) =>"
            " document.getElementById(id).textContent).join(' | ')"
        )
        logged = "\n".join(vitrina.server.output().splitlines()[-40:])
        raise AssertionError(
            f"Install stayed disabled; the page says: {said}\nthe server's log ends:\n{logged}"
        ) from timeout


def _signed_by_the_secret(arrival: Any, secret: str) -> bool:
    event = arrival.event
    signed = f"{event['eventCreated']}.{event['eventId']}".encode()
    mac = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return bool(arrival.header("X-Ecwid-Webhook-Signature") == mac)


def _installed_events(app: Receiver, count: int) -> list[Any]:
    app.wait_for(count, "/hooks")
    return [a for a in app.received("/hooks") if a.event["eventType"] == "application.installed"]


# -- authlib --------------------------------------------------------------------------------


def test_authlib_installs_the_app_through_chromium_and_calls_the_api(
    vitrina: Vitrina, page: Any
) -> None:
    from authlib.integrations.requests_client import OAuth2Session

    with receiver() as app:
        callback = app.url("/oauth/callback")
        created = vitrina.create_app(
            name="Search <index>",
            scopes=["read_catalog", "update_catalog", "public_storefront"],
            webhookUrl=app.url("/hooks"),
            redirectUri=app.url("/oauth"),  # the callback extends it: Ecwid's rule
        )
        client_id, secret = created["clientId"], created["clientSecret"]
        session = OAuth2Session(
            client_id, secret, scope="read_catalog public_storefront", redirect_uri=callback
        )
        authorize_url, state = session.create_authorization_url(
            f"{vitrina.base}/api/oauth/authorize"
        )

        # the owner, not signed in yet: the page names the app, the store, the scopes
        page.goto(authorize_url)
        assert page.title() == "Install “Search <index>” · vitrina"
        assert page.inner_text("#consent-title") == "Install “Search <index>”?"
        scopes = page.inner_text("#scopes")
        assert "read_store_profile" in scopes and "public_storefront" in scopes
        assert "update_catalog" not in scopes  # registered, not asked
        _sign_in_on_the_consent_page(page, vitrina)
        page.click("#install")
        page.wait_for_url(f"{callback}?*")
        arrived = parse_qs(urlsplit(page.url).query)
        assert set(arrived) == {"code", "state"} and arrived["state"] == [state]

        token = session.fetch_token(
            f"{vitrina.base}/api/oauth/token", authorization_response=page.url, state=state
        )
        assert token["token_type"].lower() == "bearer" and token["store_id"] == 1
        assert token["scope"] == "read_store_profile read_catalog public_storefront"
        assert token["access_token"].startswith("secret_")
        assert token["public_token"].startswith("public_")

        categories = session.get(f"{vitrina.base}/api/v3/1/categories")
        assert categories.status_code == 200 and "items" in categories.json()
        assert session.get(f"{vitrina.base}/api/v3/1/profile").status_code == 200
        refused = session.post(f"{vitrina.base}/api/v3/1/categories", json={"name": "No"})
        assert refused.status_code == 403  # update_catalog was not asked for, so not granted
        assert refused.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"

        # created, then installed: both events signed with the client secret
        installed = _installed_events(app, 2)
        assert len(installed) == 2 and all(_signed_by_the_secret(a, secret) for a in installed)

        # the code again (someone who saw it): refused, and the token it gave stops working
        again = requests.post(
            f"{vitrina.base}/api/oauth/token",
            data={
                "client_id": client_id,
                "client_secret": secret,
                "code": arrived["code"][0],
                "redirect_uri": callback,
                "grant_type": "authorization_code",
            },
            timeout=10,
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        deadline = time.monotonic() + 5
        while session.get(f"{vitrina.base}/api/v3/1/categories").status_code == 200:
            assert time.monotonic() < deadline, "the replayed code's token still works"
            time.sleep(0.2)

        # Cancel, in the same tab (still signed in): back to the app with access_denied
        authorize_url, state = session.create_authorization_url(
            f"{vitrina.base}/api/oauth/authorize"
        )
        page.goto(authorize_url)
        _ready_to_install(page, vitrina)
        page.click("#cancel")
        page.wait_for_url(f"{callback}?*")
        assert parse_qs(urlsplit(page.url).query) == {
            "error": ["access_denied"],
            "state": [state],
        }
        assert len(_installed_events(app, 2)) == 2  # no install

        # a redirect_uri elsewhere: an error page, and the browser stays
        elsewhere, _ = OAuth2Session(
            client_id, redirect_uri="http://127.0.0.2:9/oauth"
        ).create_authorization_url(f"{vitrina.base}/api/oauth/authorize")
        page.goto(elsewhere)
        assert "does not match" in page.inner_text("#refusal")
        assert page.url == elsewhere


# -- the example app and its native page ---------------------------------------------------


@pytest.fixture
def example_port() -> int:
    return free_port()


def _start_example(
    vitrina: Vitrina, app: dict[str, Any], port: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "examples" / "oauth_app.py"), "--vitrina", vitrina.base]
    command += ["--client-id", app["clientId"], "--client-secret", app["clientSecret"]]
    command += ["--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=interruptible
        )


def test_the_example_app_installs_hears_webhooks_and_opens_its_page_in_the_console(
    vitrina: Vitrina, page: Any, example_port: int, tmp_path: Path
) -> None:
    example = f"http://127.0.0.1:{example_port}"
    log = tmp_path / "example.log"
    created = vitrina.create_app(
        name="Example",
        scopes=["read_catalog"],
        webhookUrl=f"{example}/webhooks",
        redirectUri=f"{example}/oauth",
        iframeUrl=f"{example}/page",
    )
    with vitrina.api() as api:  # the app hears of it (once it listens: a retry)
        assert api.post("/categories", json={"name": "Shoes"}).status_code == 200
    process = _start_example(vitrina, created, example_port, log)
    try:
        assert wait_for(f"{example}/", process, 30)
        # the owner signs in to the console first, then installs from the app's page
        page.goto(vitrina.signin_link())
        page.wait_for_selector("#tabs:not([hidden])")
        # the console settled before the tab leaves it: once (1 run in 5), a
        # page.goto 0.2 s after the sign-in found this tab's sessionStorage
        # empty on the consent page (the server's log showed every call answered)
        assert page.evaluate("sessionStorage.getItem('vitrina.console')")
        page.wait_for_load_state("networkidle")
        page.goto(f"{example}/")
        page.click("text=Install in vitrina")
        _ready_to_install(page, vitrina)  # the tab's session
        page.click("#install")
        page.wait_for_url(f"{example}/oauth?*")
        said = page.inner_text("body")
        assert "Store 1 granted: read_store_profile read_catalog." in said
        assert "It has 1 categories." in said

        # the console: the app is installed; its page opens in a frame, with the payload
        page.goto(f"{vitrina.base}/console/")
        page.wait_for_selector("#tabs:not([hidden])")
        page.click("#tab-apps")
        page.click(".app-item")
        assert "no:" not in page.inner_text("#app-summary")
        page.click("#open-app")
        inner = page.frame_locator("#app-page").frame_locator("#app-frame")
        heading = inner.locator("h1")
        heading.wait_for()
        assert heading.inner_text().startswith("Store 1: ")
        assert "Categories: Shoes." in inner.locator("body").inner_text()
        assert "Language en, view PAGE." in inner.locator("body").inner_text()
        # only the frame's page may frame the app; the console itself may not
        console = httpx.get(f"{vitrina.base}/console/")
        assert example not in console.headers["content-security-policy"]

        # uninstall in the console: the app hears it, and has no page until installed again
        page.click("#uninstall-app")
        page.click("#confirm-ok")
        page.wait_for_selector("#open-app[disabled]")
        assert "not installed" in page.inner_text("#app-list")
        # what the app printed: its webhooks, each with a good signature
        assert wait_until(lambda: "application.uninstalled" in log.read_text(), 20)
    finally:
        stop(process)
    said = log.read_text()
    assert said.count("webhook: application.installed") == 2, said
    assert said.count("webhook: category.created") == 1, said  # Shoes
