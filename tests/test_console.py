"""The web console in a real browser: Debian's Chromium driven by Playwright,
against a live vitrina on loopback. Every test also checks that the page
logged no error and broke no Content-Security-Policy rule, and saves a
screenshot under its temporary folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import migrated
from tests.live import LoopbackOnly, no_lookups, serving
from tests.processes import free_port
from tests.receiver import receiver
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, fetch_policy, webhook_policy
from vitrina.domain.values import SCOPES, AppChanges
from vitrina.settings import Settings
from vitrina.usecases.tokens import console_link, create_signin_code, create_token, token_hash
from vitrina.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="scripts/test-deps.sh installs chromium"),
]
XSS = "<img src=x onerror=alert(1)>"


@dataclass
class Site:
    base: str
    services: Services

    def store(self, scopes: str = ",".join(SCOPES), public: bool = False) -> tuple[int, str]:
        store = self.services.metadata.stores.create_store("Toy shop", "https://shop.example.com")
        token, _ = create_token(
            self.services.metadata, store.id, frozenset(scopes.split(",")), public
        )
        return store.id, token

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"})

    def link(self, store: int, scopes: frozenset[str] = frozenset(SCOPES)) -> str:
        """A console sign-in link, as vitrina console-link prints it."""
        code = create_signin_code(self.services.metadata, store, scopes, 600)
        return console_link(self.base, store, code)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    data_dir = Path(tempfile.mkdtemp(prefix="vitrina-console-"))
    port = free_port()
    config = Settings(
        data_dir=data_dir,
        port=port,
        rate_limit_per_minute=0,
        job_max_attempts=1,
        # webhooks to a receiver on loopback, as make run allows; retried after 1 s
        webhook_allow_http=True,
        webhook_allow_networks=("127.0.0.0/8",),
        webhook_retry_seconds=(1.0, 1.0, 1.0),
    )
    services = migrated(config)
    services.fetcher = LoopbackOnly(fetch_policy(config, resolver=no_lookups))
    services.webhook_guard = GuardedFetcher(webhook_policy(config, resolver=no_lookups))
    with serving(create_app(config, services), port) as base:
        yield Site(base, services)
    services.close()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


# Counts every Content-Security-Policy violation the page reports.
_WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _problem(message: Any) -> bool:
    """An error in the page's console. Chromium also logs every 4xx answer as
    "Failed to load resource"; those are the API's refusals that the tests
    provoke on purpose and the page explains, so they do not count (a 5xx or
    a failed connection does)."""
    if message.type != "error":
        return False
    return re.fullmatch(r"Failed to load resource: .* status of 4\d\d .*", message.text) is None


@pytest.fixture
def page(browser: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(_WATCH_CSP)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if _problem(m) else None)
    opened.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))

    def on_dialog(dialog: Any) -> None:  # alert() would mean a script ran that should not
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    opened.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    violations = opened.evaluate("window.__csp || []")
    context.close()
    assert problems == [], problems
    assert violations == [], violations


def sign_in(page: Any, site: Site, store: int, token: str) -> None:
    """Into ``store`` with ``token``'s scopes: by a sign-in link, as people do;
    a public token (which no link makes) is pasted into the form."""
    info = site.services.metadata.stores.find_token(token_hash(token))
    assert info is not None
    if info.kind == "public":
        page.goto(f"{site.base}/console/")
        page.fill("#signin-store", str(store))
        page.fill("#signin-token", token)
        page.click("#signin-form button[type=submit]")
    else:
        page.goto(site.link(store, info.scopes))
    loaded(page)


def loaded(page: Any) -> None:
    page.wait_for_selector("#tabs:not([hidden])")
    page.wait_for_selector("#tree-status:has-text('categor')")


def row(page: Any, name: str) -> Any:
    return page.locator(".treeitem > .row", has=page.locator(".name", has_text=name)).first


def until(page: Any, expression: str, timeout: float = 10) -> None:
    """Poll ``expression`` from here: Playwright's wait_for_function evaluates
    strings with eval, which the page's policy rightly refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(50)


def shown_in_order(page: Any, expected: str) -> None:
    until(
        page,
        "[...document.querySelectorAll('.treeitem .name')].map(n => n.textContent).join()"
        f" === '{expected}'",
    )


def names(page: Any) -> list[str]:
    return [n.strip() for n in page.locator(".treeitem > .row .name").all_inner_texts()]


def test_sign_in_by_link_keeps_tokens_out_of_the_address_and_cookies(page: Any, site: Site) -> None:
    store, token = site.store()
    link = site.link(store, frozenset({"read_catalog"}))
    page.goto(link)
    loaded(page)
    assert page.url == f"{site.base}/console/"
    assert page.evaluate("sessionStorage.length") == 1
    saved = page.evaluate("JSON.parse(sessionStorage.getItem('vitrina.console'))")
    assert saved["store"] == str(store) and saved["token"].startswith("secret_")
    assert saved["token"] != token and saved["expiresAt"]
    assert link.split("signin=")[1] not in page.evaluate("JSON.stringify(sessionStorage)")
    assert page.context.cookies() == []
    assert token not in page.content() and saved["token"] not in page.content()
    assert "Toy shop" in page.inner_text("#store-name")
    # the session has the link's scopes, not the token's
    assert "lacks create_catalog and update_catalog" in page.inner_text("#readonly-note")


def _session(page: Any) -> dict[str, str]:
    saved: dict[str, str] = page.evaluate("JSON.parse(sessionStorage.getItem('vitrina.console'))")
    return saved


def _files_holding(folder: Path, secret: str) -> list[str]:
    """Files under ``folder`` that contain ``secret`` (as UTF-8 or UTF-16, as
    Chromium's stores write strings)."""
    forms = (secret.encode(), secret.encode("utf-16-le"))
    return [
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and any(form in path.read_bytes() for form in forms)
    ]


def test_no_token_reaches_the_browsers_history_or_profile(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    """The link is in the history, as every visited address is: it holds a
    code that worked once, never a token. The long-lived token is in no file
    of the profile. The session token is only where Chromium keeps every
    tab's sessionStorage, so that it can restore tabs ("Session Storage"):
    the console keeps its session there, and that token expires
    (VITRINA_CONSOLE_SESSION_SECONDS)."""
    store, token = site.store()
    profile = tmp_path / "profile"
    context = browser.browser_type.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), args=["--no-sandbox"]
    )
    try:
        page = context.new_page()
        link = site.link(store)
        page.goto(link)
        loaded(page)
        session_token = _session(page)["token"]
        page.click("#tab-requests")  # a few more API calls with the session token
        page.wait_for_selector("#log-rows tr")
    finally:
        context.close()
    history = profile / "Default" / "History"
    with sqlite3.connect(f"file:{history}?mode=ro", uri=True) as db:
        visited = [url for (url,) in db.execute("SELECT url FROM urls")]
    assert link in visited  # the history keeps fragments: a token there would be found
    for secret in (token, session_token):
        assert [url for url in visited if secret in url] == []
    assert _files_holding(profile, token) == []
    kept = _files_holding(profile, session_token)
    assert [name for name in kept if not name.startswith("Default/Session Storage/")] == []


def test_a_link_works_once_and_a_second_use_says_so(page: Any, site: Site) -> None:
    store, _ = site.store()
    link = site.link(store)
    page.goto(link)
    loaded(page)
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])")
    page.goto(link)
    page.wait_for_selector("#link-notice:not([hidden])")
    text = page.inner_text("#link-notice")
    assert "already been used" in text and f"vitrina console-link --store {store}" in text
    assert page.is_visible("#signin") and not page.is_visible("#tabs")
    assert page.url == f"{site.base}/console/"
    assert page.evaluate("sessionStorage.length") == 0


def test_an_expired_link_says_so(page: Any, site: Site) -> None:
    store, _ = site.store()
    code = "an-expired-code-for-this-test"
    site.services.metadata.signins.add_code(
        store, token_hash(code), frozenset(SCOPES), datetime.now(UTC) - timedelta(seconds=1)
    )
    page.goto(console_link(site.base, store, code))
    page.wait_for_selector("#link-notice:not([hidden])")
    assert "has expired" in page.inner_text("#link-notice")
    assert page.is_visible("#signin")


def test_a_link_that_carries_a_token_is_refused_and_cleared(page: Any, site: Site) -> None:
    store, token = site.store()
    page.goto(f"{site.base}/console/#store={store}&token={token}")
    page.wait_for_selector("#link-notice:not([hidden])")
    text = page.inner_text("#link-notice")
    assert "no longer accepted" in text and "vitrina console-link --store N" in text
    assert page.url == f"{site.base}/console/"
    assert page.evaluate("sessionStorage.length") == 0
    assert page.is_visible("#signin") and not page.is_visible("#tabs")


def test_a_signed_in_tab_asks_before_another_stores_link(page: Any, site: Site) -> None:
    store, _ = site.store()
    other = site.services.metadata.stores.create_store("Kite shop", "https://kites.example.com")
    page.goto(site.link(store))
    loaded(page)
    first = _session(page)
    # Cancel: the session stays, and the link's code is not used
    link = site.link(other.id)
    page.goto(link)  # as when a link is pasted into this tab
    page.wait_for_selector("#confirm[open]")
    question = page.inner_text("#confirm-text")
    assert f"“Toy shop” (store {store})" in question and f"store {other.id}" in question
    page.click("#confirm button[value=cancel]")
    page.wait_for_selector("#link-notice:has-text('not used')")
    assert "Toy shop" in page.inner_text("#store-name")
    assert _session(page) == first
    assert page.url == f"{site.base}/console/"
    # a fresh page load with a link asks too; this time, change stores
    page.goto(f"{site.base}/console/index.html#{link.split('#', 1)[1]}")
    page.wait_for_selector("#confirm[open]")
    page.click("#confirm-ok")
    page.wait_for_selector(f"#store-name:has-text('Kite shop · store {other.id}')")
    assert _session(page)["store"] == str(other.id)
    assert _session(page)["token"] != first["token"]


def test_a_wrong_token_is_explained(page: Any, site: Site) -> None:
    store, _ = site.store()
    page.goto(f"{site.base}/console/")
    page.fill("#signin-store", str(store))
    page.fill("#signin-token", "secret_wrong")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('token')")
    assert page.is_visible("#signin")


def test_create_a_category_and_a_child(page: Any, site: Site) -> None:
    store, token = site.store()
    sign_in(page, site, store, token)
    page.fill("#new-root-name", "Toys")
    page.press("#new-root-name", "Enter")
    page.wait_for_selector("#detail-title:has-text('Toys')")
    page.fill("#child-name", "Cars")
    page.click("#child-form button")
    page.wait_for_selector("#detail-title:has-text('Cars')")
    assert names(page) == ["Toys", "Cars"]
    with site.api(token) as api:
        items = api.get(f"/api/v3/{store}/categories").json()["items"]
    by_name = {c["name"]: c for c in items}
    assert by_name["Cars"]["parentId"] == by_name["Toys"]["id"]


def _drop(page: Any, selector: str, data: bytes, name: str, kind: str) -> None:
    transfer = page.evaluate_handle(
        """([b64, name, kind]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: kind }));
            return transfer;
        }""",
        [base64.b64encode(data).decode(), name, kind],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_drop_a_phone_photo_and_see_it_upright_with_progress(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": "Photos"})
    sign_in(page, site, store, token)
    row(page, "Photos").click()
    page.wait_for_selector("#drop")
    page.evaluate(
        """() => {
            window.__statuses = [];
            new MutationObserver(() => {
                const status = document.getElementById('upload-status');
                if (status) window.__statuses.push(status.textContent);
            }).observe(document.getElementById('detail'),
                       { subtree: true, childList: true, characterData: true });
        }"""
    )
    photo = images.phone_jpeg()  # 12 MP, orientation 6, Display P3
    _drop(page, "#drop", photo, "phone.jpg", "image/jpeg")
    thumb = row(page, "Photos").locator("img.thumb")
    thumb.wait_for(timeout=60_000)
    until(page, "document.querySelector('.treeitem img.thumb').naturalWidth > 0")
    width, height = thumb.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert height > width  # stored turned, shown upright
    statuses = page.evaluate("window.__statuses")
    assert any(s.startswith("Uploading…") and s.endswith("%") for s in statuses), statuses
    assert statuses.index("Processing…") > max(
        i for i, s in enumerate(statuses) if s.startswith("Uploading…")
    )
    assert page.inner_text("#upload-status") == "Uploaded."
    page.wait_for_selector(".files td:has-text('3024 \u00d7 4032')")
    page.wait_for_selector(".files td:has-text('MB')")
    assert page.locator(".files tbody tr").count() == 4
    assert page.is_visible(".swatch")


def test_the_image_shows_a_srcset_snippet_whose_urls_work(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        category = api.post(f"/api/v3/{store}/categories", json={"name": "Lamps"}).json()["id"]
        photo = images.photo(1000, 750).jpegsave_buffer(Q=90)
        api.post(f"/api/v3/{store}/categories/{category}/image", content=photo)
    sign_in(page, site, store, token)
    row(page, "Lamps").click()
    page.wait_for_selector("#srcset-snippet")
    page.click("#srcset-snippet summary")
    snippet = page.inner_text("#srcset")
    assert snippet.startswith("<img src=") and 'alt="Lamps"' in snippet
    urls = re.findall(r"(https?://\S+\?width=(\d+)) (\d+)w", snippet)
    # the widths below the original's (1000), then one that gives its own size
    assert [int(w) for _, w, _ in urls] == [160, 320, 480, 640, 800, 1200]
    assert urls[-1][2] == "1000"
    for url, _, shown in urls:
        answer = httpx.get(url, headers={"Accept": "image/avif,image/webp,*/*"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["vary"] == "Accept"
        assert images.decode(answer.content).size[0] == int(shown)  # Pillow reads AVIF
    # the browser picks one of them for the image it shows
    page.set_content(snippet)
    until(page, "document.querySelector('img').naturalWidth > 0")
    assert "?width=" in page.evaluate("document.querySelector('img').currentSrc")


def test_a_non_image_shows_the_api_message(page: Any, site: Site, tmp_path: Path) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": "Docs"})
    sign_in(page, site, store, token)
    row(page, "Docs").click()
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not pixels\n" * 50)
    page.set_input_files("#file", str(notes))
    error = page.wait_for_selector("#upload-error:has-text('not an image')")
    assert error.is_visible()


def test_reorder_by_drag_and_by_keyboard(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        for name in ("Alpha", "Bravo", "Charlie"):
            api.post(f"/api/v3/{store}/categories", json={"name": name})
    sign_in(page, site, store, token)
    assert names(page) == ["Alpha", "Bravo", "Charlie"]
    top = row(page, "Alpha").bounding_box()
    row(page, "Charlie").drag_to(row(page, "Alpha"), target_position={"x": 40, "y": 2})
    shown_in_order(page, "Charlie,Alpha,Bravo")
    assert top is not None
    # the keyboard alternative: select with arrows and Enter, then "Move down"
    row(page, "Charlie").click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail-title:has-text('Alpha')")
    page.click("#p-down")
    shown_in_order(page, "Charlie,Bravo,Alpha")
    with site.api(token) as api:
        items = api.get(f"/api/v3/{store}/categories").json()["items"]
    assert [c["name"] for c in sorted(items, key=lambda c: c["orderBy"])] == [
        "Charlie",
        "Bravo",
        "Alpha",
    ]


def test_move_under_another_category_by_drag(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        toys = api.post(f"/api/v3/{store}/categories", json={"name": "Toys"}).json()["id"]
        api.post(f"/api/v3/{store}/categories", json={"name": "Kites"})
    sign_in(page, site, store, token)
    box = row(page, "Toys").bounding_box()
    assert box is not None
    row(page, "Kites").drag_to(row(page, "Toys"), target_position={"x": 60, "y": box["height"] / 2})
    page.wait_for_selector(f".treeitem[data-id='{toys}'] ul .name:has-text('Kites')")


def test_a_read_only_token_hides_the_write_controls(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": "Shown"})
    _, reader = store, create_token(site.services.metadata, store, frozenset({"read_catalog"}))[0]
    sign_in(page, site, store, reader)
    assert page.is_visible("#readonly-note")
    assert "lacks create_catalog and update_catalog" in page.inner_text("#readonly-note")
    assert not page.is_visible("#new-root-form")
    row(page, "Shown").click()
    page.wait_for_selector("#detail-title:has-text('Shown')")
    for control in ("#fields-form", "#drop", "#delete-category", "#child-form", "#p-parent"):
        assert page.locator(control).count() == 0, control
    assert page.locator(".treeitem > .row[draggable=true]").count() == 0


def test_a_public_token_sees_no_request_log(page: Any, site: Site) -> None:
    store, _ = site.store()
    public = create_token(site.services.metadata, store, frozenset({"read_catalog"}), True)[0]
    sign_in(page, site, store, public)
    assert "public token" in page.inner_text("#readonly-note")
    assert not page.is_visible("#tab-requests")


def test_a_hostile_name_renders_as_text(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": XSS, "enabled": False})
    sign_in(page, site, store, token)
    assert names(page) == [XSS]
    assert page.locator("img[src=x]").count() == 0
    row(page, XSS).click()
    assert page.inner_text("#detail-title") == XSS
    assert page.is_visible(".treeitem .hidden-badge")


def test_a_store_in_two_languages_edits_the_name_in_each(page: Any, site: Site) -> None:
    made = site.services.metadata.stores.create_store(
        "Boutique", "https://shop.example.com", 400, 1200, ("en", "fr")
    )
    token, _ = create_token(site.services.metadata, made.id, frozenset(SCOPES))
    with site.api(token) as api:
        api.post(f"/api/v3/{made.id}/categories", json={"name": "Toys"})
    sign_in(page, site, made.id, token)
    row(page, "Toys").click()
    page.fill("#f-name-fr", "Jouets")
    page.click("#f-save")
    page.wait_for_selector("#f-saved:has-text('Saved.')")
    assert "[object" not in page.inner_text("#fields-form")
    with site.api(token) as api:
        found = api.get(f"/api/v3/{made.id}/categories").json()["items"][0]
    assert found["nameTranslated"] == {"en": "Toys", "fr": "Jouets"}


def test_the_request_log_shows_the_upload_and_no_token(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        category = api.post(f"/api/v3/{store}/categories", json={"name": "Logged"}).json()["id"]
        api.post(
            f"/api/v3/{store}/categories/{category}/image",
            content=images.jpeg(800, 600),
            params={"token": token},
        )
        api.get(f"/api/v3/{store}/categories/424242")
    sign_in(page, site, store, token)
    page.click("#tab-requests")
    upload = page.wait_for_selector(f"#log-rows tr:has-text('/categories/{category}/image')")
    assert "200" in upload.inner_text() and "POST" in upload.inner_text()
    page.wait_for_selector("#log-rows tr:has-text('CATEGORY_NOT_FOUND')")
    page.select_option("#log-status", "4xx")
    until(page, "document.querySelectorAll('#log-rows tr').length === 1")
    assert token not in page.content()
    # live: a new request shows without reloading
    page.select_option("#log-status", "")
    with site.api(token) as api:
        api.get(f"/api/v3/{store}/categories/515151")
    page.wait_for_selector("#log-rows tr:has-text('515151')", timeout=10_000)


def test_an_async_upload_shows_its_failure_and_reason(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": "Remote"})
    sign_in(page, site, store, token)
    row(page, "Remote").click()
    page.click("#image summary")
    page.fill("#url", "https://images.example/toy.jpg")
    page.click("#url-async")
    failed = page.wait_for_selector(".job.failed", timeout=30_000)
    assert "Could not resolve the URL's host name" in failed.inner_text()


def test_delete_says_that_subcategories_go_too(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        top = api.post(f"/api/v3/{store}/categories", json={"name": "Old"}).json()["id"]
        api.post(f"/api/v3/{store}/categories", json={"name": "Older", "parentId": top})
    sign_in(page, site, store, token)
    row(page, "Old").click()
    page.click("#delete-category")
    assert "its 1 subcategory" in page.inner_text("#confirm-text")
    page.click("#confirm-ok")
    page.wait_for_selector("#tree-status:has-text('No categories yet')")


def test_the_375_pixel_layout(page: Any, site: Site) -> None:
    store, token = site.store()
    with site.api(token) as api:
        api.post(f"/api/v3/{store}/categories", json={"name": "A rather long category name"})
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, site, store, token)
    row(page, "A rather long").click()
    page.wait_for_selector("#drop")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert page.is_visible("#tree") and page.is_visible("#detail")
    page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


def test_the_console_is_served_with_a_strict_policy(site: Site) -> None:
    with TestClient(create_app(site.services.settings, site.services)) as client:
        page = client.get("/console/")
        script = client.get("/console/console.js")
        assert client.get("/console", follow_redirects=False).headers["location"] == "console/"
        assert client.get("/console/../settings.py").status_code == 404
        assert client.get("/console/nope.js").status_code == 404
    policy = page.headers["content-security-policy"]
    for rule in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert rule in policy
    assert f"img-src 'self' {site.base}" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text  # only <script src=…>
    assert re.search(r"\son[a-z]+=", page.text) is None  # no inline handlers
    assert script.headers["content-type"].startswith("text/javascript")
    weight = sum(
        len(p.read_bytes())
        for p in (Path(__file__).parent.parent / "src/vitrina/web/console").iterdir()
    )
    assert weight < 150_000


# -- apps and their webhooks ------------------------------------------------------------


def _signed(secret: str, body: bytes) -> str:
    """X-Ecwid-Webhook-Signature as Ecwid's documentation computes it."""
    event = json.loads(body)
    message = f"{event['eventCreated']}.{event['eventId']}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _delivery_row(page: Any, event_type: str, state: str = "") -> Any:
    selector = f"#hooks-rows tr.delivery{'.' + state if state else ''}"
    return page.locator(selector, has=page.locator("td", has_text=event_type)).first


def test_the_apps_page_the_delivery_log_and_send_again(page: Any, site: Site) -> None:
    store, token = site.store()
    with receiver() as hooks:
        sign_in(page, site, store, token)
        page.click("#tab-apps")
        page.wait_for_selector("#apps-status:has-text('No apps yet')")
        page.click("#new-app")
        page.fill("#a-name", XSS)
        page.fill("#a-webhook", hooks.url("/flaky/1"))  # a 500 first, then 200s
        page.click("#a-save")
        secret = page.inner_text("#app-secret")
        (app,) = site.services.metadata.apps.list_apps(store)
        assert app.client_secret == secret and app.name == XSS
        assert page.inner_text("#app-title") == XSS  # text, not markup
        assert app.client_id in page.inner_text("#app-summary")

        # the app's install event: refused once, delivered by the retry
        _delivery_row(page, "application.installed", "delivered").wait_for(timeout=20_000)
        installed = _delivery_row(page, "application.installed")
        installed.locator("[data-action=attempts]").click()
        page.wait_for_selector(".attempt[data-number='2']")
        attempts = page.inner_text(".attempts-row")
        assert "Attempt 1" in attempts and "HTTP 500" in attempts and "answer 500" in attempts
        assert (
            "Attempt 2" in attempts and "HTTP 200" in attempts and "No attempt follows." in attempts
        )
        first, second = hooks.received()
        assert first.body == second.body and first.event["eventType"] == "application.installed"
        signature = _signed(secret, first.body)
        assert first.header("X-Ecwid-Webhook-Signature") == signature
        assert f"X-Ecwid-Webhook-Signature: {signature}" in attempts
        assert first.body.decode() in attempts  # the body as sent

        # send again: a new delivery of the same event, sent and logged
        installed.locator("[data-action=replay]").click()
        page.wait_for_selector("#hooks-done:has-text('same eventId')")
        replayed = hooks.wait_for(3)[2]
        assert replayed.event["eventId"] == first.event["eventId"]
        assert replayed.header("X-Ecwid-Webhook-Signature") == signature
        until(page, "document.querySelectorAll('#hooks-rows tr.delivery.delivered').length === 2")

        # a write made in the console is an API call like any: it has its event
        page.click("#tab-catalog")
        page.fill("#new-root-name", "Toys")
        page.click("#new-root-form button[type=submit]")
        row(page, "Toys").wait_for()
        page.click("#tab-apps")
        _delivery_row(page, "category.created").wait_for(timeout=20_000)
        created = hooks.wait_for(4)[3].event
        assert created["eventType"] == "category.created"
        assert page.inner_text("#hooks-rows tr.delivery >> nth=0").count("Toys") == 1
        assert secret not in page.content()  # shown once, gone since

        # a test event for the category picked
        page.select_option("#test-category", str(created["entityId"]))
        page.click("#send-test")
        page.wait_for_selector("#test-status:has-text('Queued delivery')")
        tested = hooks.wait_for(5)[4]
        assert (tested.event["eventType"], tested.event["entityId"]) == (
            "category.updated",
            created["entityId"],
        )
        assert tested.header("X-Ecwid-Webhook-Signature") == _signed(secret, tested.body)

        # change, then delete
        page.click("#app-settings > summary")
        page.fill("#a-name", "Search index")
        page.click("#a-save")
        page.wait_for_selector("#a-saved:has-text('Saved.')")
        assert page.inner_text("#app-title") == "Search index"
        page.click("#delete-app")
        page.click("#confirm-ok")
        page.wait_for_selector("#apps-status:has-text('No apps yet')")
    assert site.services.metadata.apps.list_apps(store) == []


REFUSED = "http://127.0.0.1:9/hooks"  # nothing listens there: every attempt fails


def test_a_read_only_session_sees_apps_and_their_log_but_changes_nothing(
    page: Any, site: Site
) -> None:
    store, token = site.store(scopes="read_catalog")
    site.services.metadata.apps.create_app(
        store,
        "Feed",
        f"client-feed-{store}",
        "s" * 32,
        AppChanges(scopes=frozenset({"read_catalog"}), webhook_url=REFUSED),
    )
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, site, store, token)
    page.click("#tab-apps")
    page.click(".app-item")
    page.wait_for_selector("#hooks-rows tr.delivery")
    assert "application.installed" in page.inner_text("#hooks-rows")
    assert page.is_hidden("#new-app")
    for control in ("#app-form", "#send-test", "#delete-app", "[data-action=replay]"):
        assert page.locator(control).count() == 0, control
    assert REFUSED in page.inner_text("#app-detail")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
