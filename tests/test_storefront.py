"""The storefront preview: every form of a category's ``url`` opens its page
(the default ``#!/…/c/ID`` form in a real browser), hidden and missing
categories are 404, texts are escaped, and the pages keep the console's
Content-Security-Policy."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import migrated
from tests.live import serving
from tests.processes import free_port
from vitrina.backends.metadata.sql_stores import STORE_ID
from vitrina.bootstrap import Services
from vitrina.domain.values import SCOPES
from vitrina.settings import Settings
from vitrina.usecases.tokens import create_token
from vitrina.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
# No traffic off this machine: Chromium's own services stay off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
]
XSS = "<script>alert(1)</script>"


class Shop:
    """A store whose URL is this server's own ``/store/<id>``, and its API."""

    def __init__(self, services: Services, client: httpx.Client | TestClient, base: str) -> None:
        store = services.metadata.stores.create_store("Toy shop", f"{base}/store/{STORE_ID}")
        token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
        self.id, self.client, self.base = store.id, client, base
        self.auth = {"Authorization": f"Bearer {token}"}

    def create(self, name: str, **fields: Any) -> int:
        answer = self.client.post(
            f"/api/v3/{self.id}/categories", json={"name": name, **fields}, headers=self.auth
        )
        assert answer.status_code == 200, answer.text
        category_id: int = answer.json()["id"]
        return category_id

    def update(self, category_id: int, **fields: Any) -> None:
        answer = self.client.put(
            f"/api/v3/{self.id}/categories/{category_id}", json=fields, headers=self.auth
        )
        assert answer.status_code == 200, answer.text

    def upload(self, category_id: int, data: bytes) -> None:
        answer = self.client.post(
            f"/api/v3/{self.id}/categories/{category_id}/image", content=data, headers=self.auth
        )
        assert answer.status_code == 200, answer.text

    def category(self, category_id: int, **view: str) -> dict[str, Any]:
        answer = self.client.get(
            f"/api/v3/{self.id}/categories/{category_id}", params=view, headers=self.auth
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def urls(self, category_id: int) -> list[str]:
        """The category's ``url`` in Ecwid's three forms."""
        return [
            self.category(category_id)["url"],
            self.category(category_id, cleanUrls="true")["url"],
            self.category(category_id, cleanUrls="true", slugsWithoutIds="true")["url"],
        ]


def path(url: str) -> str:
    """What a browser sends for ``url``: no fragment."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page)
    assert found, page
    return found.group(1)


def links(page: str) -> dict[str, str]:
    """The cards' links: name → href."""
    return {
        name: href
        for href, name in re.findall(
            r'<li><a href="([^"]+)">.*?<span>([^<]*)</span></a></li>', page
        )
    }


@pytest.fixture
def shop(services: Services, client: TestClient) -> Shop:
    return Shop(services, client, "http://testserver")


def test_every_form_of_the_url_opens_the_category(shop: Shop, client: TestClient) -> None:
    toys = shop.create("Toys", description="<p>Wooden <b>toys</b></p><p>Made here.</p>")
    cars = shop.create("Cars", parentId=toys)
    shop.upload(toys, images.jpeg(1600, 1200))
    shown = shop.category(toys)
    default, with_id, slug_only = shop.urls(toys)
    assert default == "http://testserver/store/1/#!/toys/c/1"
    assert with_id == "http://testserver/store/1/toys-c1"
    assert slug_only == "http://testserver/store/1/toys"

    # the default form: the server sees /store/1/, the store page, whose
    # script opens the fragment (test_the_fragment_opens_the_category)
    store_page = client.get(path(default))
    assert store_page.status_code == 200
    assert heading(store_page.text) == "Toy shop"
    assert links(store_page.text) == {"Toys": "./toys-c1"}
    assert '<script src="../../storefront/page.js" defer></script>' in store_page.text

    for url, child_link, own in (
        (with_id, "./cars-c2", "./toys-c1"),
        (slug_only, "./cars", "./toys"),
    ):
        page = client.get(path(url))
        assert page.status_code == 200, url
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        text = page.text
        assert heading(text) == "Toys"
        assert "<p>Wooden toys</p><p>Made here.</p>" in text
        # the image: the 1200 px fit, sized, with the three fits in srcset
        img = re.search(r"<figure><img ([^>]*)></figure>", text)
        assert img, text
        assert f'src="{shown["imageUrl"]}"' in img.group(1)
        assert "width=1200 height=900" in img.group(1)
        srcset = re.search(r'srcset="([^"]*)"', img.group(1))
        assert srcset and srcset.group(1) == (
            f"{shown['thumbnailUrl']} 400w, {shown['hdThumbnailUrl']} 800w, "
            f"{shown['imageUrl']} 1200w"
        )
        # links go between categories, in the form the page was opened with
        assert links(text) == {"Cars": child_link}
        child = client.get(path(urljoin(url, child_link)))
        assert child.status_code == 200 and heading(child.text) == "Cars"
        crumbs = re.search(r"<nav aria-label=Breadcrumb>(.*?)</nav>", child.text)
        assert crumbs and f'href="{own}">Toys</a>' in crumbs.group(1)
        assert client.get(path(urljoin(url, "./"))).status_code == 200
    assert [path(u) for u in shop.urls(cars)[1:]] == ["/store/1/cars-c2", "/store/1/cars"]


def test_the_store_url_as_stored_leads_to_its_page(shop: Shop, client: TestClient) -> None:
    answer = client.get("/store/1", follow_redirects=False)
    assert answer.status_code == 308 and answer.headers["location"] == "1/"  # nothing from Host
    assert client.get("/store/1").status_code == 200


def test_a_renamed_category_keeps_its_id_link_and_shows_the_new_name(
    shop: Shop, client: TestClient
) -> None:
    toys = shop.create("Toys")
    assert heading(client.get("/store/1/toys-c1").text) == "Toys"
    shop.update(toys, name="Games")
    assert heading(client.get("/store/1/toys-c1").text) == "Games"  # the read cache is current
    assert heading(client.get("/store/1/games-c1").text) == "Games"
    assert heading(client.get("/store/1/games").text) == "Games"
    assert client.get("/store/1/toys").status_code == 404
    shop.update(toys, customSlug="board-games")
    assert heading(client.get("/store/1/board-games").text) == "Games"
    assert heading(client.get("/store/1/board-games-c1").text) == "Games"


def test_a_custom_slug_is_one_segment_inside_the_store(shop: Shop, client: TestClient) -> None:
    toys = shop.create("Toys", customSlug="../../admin")
    kites = shop.create("Kites", parentId=toys, customSlug="toys/kites?a=1#b")
    dots = shop.create("Dots", customSlug="..")
    russian = shop.create("Toys", customSlug="игрушки")
    default, with_id, slug_only = shop.urls(toys)
    assert default == "http://testserver/store/1/#!/..%2F..%2Fadmin/c/1"
    assert with_id == "http://testserver/store/1/..%2F..%2Fadmin-c1"
    assert slug_only == "http://testserver/store/1/..%2F..%2Fadmin"
    assert shop.urls(kites)[1] == "http://testserver/store/1/toys%2Fkites%3Fa%3D1%23b-c2"
    assert shop.urls(dots)[2] == "http://testserver/store/1/dots"  # never "." or ".."
    assert shop.urls(russian)[2] == (
        "http://testserver/store/1/%D0%B8%D0%B3%D1%80%D1%83%D1%88%D0%BA%D0%B8"
    )
    for category in (toys, kites, dots, russian):
        for url in shop.urls(category):
            # where a browser goes: the store's folder, never above it
            assert urlsplit(urljoin("http://testserver/store/1/x", url)).path.startswith(
                "/store/1/"
            ), url
            answer = client.get(path(url))
            assert answer.status_code == 200, url

    page = client.get(path(shop.urls(kites)[1])).text
    assert heading(page) == "Kites"
    assert 'href="./..%2F..%2Fadmin-c1">Toys</a>' in page
    assert 'href="../../storefront/page.css"' in page
    # the same page with its slash typed as one: a folder further down
    typed = client.get("/store/1/toys/kites%3Fa%3D1%23b-c2").text
    assert heading(typed) == "Kites"
    assert 'href="../..%2F..%2Fadmin-c1">Toys</a>' in typed
    assert 'href="../../../storefront/page.css"' in typed


def test_a_shared_slug_opens_the_first_visible_category(shop: Shop, client: TestClient) -> None:
    toys = shop.create("Toys", orderBy=10)
    first = shop.create("Kites", parentId=toys)
    second = shop.create("Kites", orderBy=20)
    assert re.search(
        r"Toy shop</a> &rsaquo; <a href=\"./toys\">Toys</a>", client.get("/store/1/kites").text
    )
    shop.update(first, enabled=False)
    page = client.get("/store/1/kites").text
    assert heading(page) == "Kites" and "./toys" not in page  # the root one now
    assert client.get(f"/store/1/kites-c{second}").status_code == 200


def test_hidden_and_missing_categories_are_404(
    shop: Shop, client: TestClient, services: Services
) -> None:
    toys = shop.create("Toys")
    hidden = shop.create("Secret", enabled=False)
    inside = shop.create("Inside", parentId=hidden)
    shop.create("Shown", parentId=toys)
    shop.create("Draft", parentId=toys, enabled=False)
    for category in (hidden, inside):
        for url in shop.urls(category)[1:]:
            answer = client.get(path(url))
            assert answer.status_code == 404, url
            assert heading(answer.text) == "Not found"
            assert "Secret" not in answer.text and "Inside" not in answer.text
    assert links(client.get("/store/1/").text) == {"Toys": "./toys-c1"}
    assert set(links(client.get("/store/1/toys-c1").text)) == {"Shown"}
    for missing in ("/store/1/nothing", "/store/1/toys-c99", "/store/9/", "/store/9/toys-c1"):
        assert client.get(missing).status_code == 404, missing
    for malformed in ("/store/01/", "/store/x/", "/store/99999999999/", "/store/0/toys-c1"):
        assert client.get(malformed).status_code == 404, malformed
    # a store whose URL points elsewhere has its pages there, not here
    elsewhere = services.metadata.stores.create_store("Elsewhere", "https://shop.example")
    assert client.get(f"/store/{elsewhere.id}/").status_code == 404


def test_names_and_descriptions_are_text(shop: Shop, client: TestClient) -> None:
    toys = shop.create(
        f"Toys {XSS}",
        description=f'<img src=x onerror="alert(2)">Fun {XSS}<style>*{{color:red}}</style>',
    )
    shop.create('Cars "><b onmouseover=alert(3)>', parentId=toys)
    for page_path in ("/store/1/", "/store/1/toys-script-alert-1-script-c1"):
        page = client.get(page_path).text
        assert "alert(1)</script>" not in page and "<img src=x" not in page
        assert "<b onmouseover" not in page and "onerror" not in page
        assert "Toys &lt;script&gt;alert(1)&lt;/script&gt;" in page
    page = client.get("/store/1/toys-script-alert-1-script-c1").text
    assert "<p>Fun alert(1)</p>" not in page  # the script's text is dropped too
    assert "<div class=description><p>Fun</p></div>" in page
    assert "Cars &quot;&gt;&lt;b onmouseover=alert(3)&gt;" in page


def test_pages_keep_the_consoles_policy(shop: Shop, client: TestClient) -> None:
    shop.create("Toys")
    for page_path in ("/store/1/", "/store/1/toys-c1", "/store/1/nothing", "/store/9/"):
        answer = client.get(page_path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy
        assert "unsafe" not in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        # nothing inline for the policy to refuse
        assert "<style" not in answer.text and " style=" not in answer.text
        assert re.findall(r"<script(?![^>]* src=)", answer.text) == []
        assert not re.search(r" on[a-z]+=", answer.text)
    script = client.get("/storefront/page.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "content-security-policy" in script.headers
    again = client.get("/storefront/page.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/storefront/page.css").headers["content-type"].startswith("text/css")
    for name in ("nothing.js", "..%2Fstorefront.py", ".hidden.css"):
        assert client.get(f"/storefront/{name}").status_code == 404


# -- in a browser ---------------------------------------------------------------


@pytest.mark.embedded_only
def test_a_deep_tree_costs_a_lookup_per_page(
    shop: Shop, services: Services, client: TestClient
) -> None:
    """Whether a category shows is found once per catalog version for the
    whole tree, not by a walk up for every category (a 3,000-deep chain made
    each request walk nine million parents); a trail shows the nearest
    ancestors only."""
    from vitrina.domain.values import CategoryChanges

    catalog = services.metadata.catalog
    top = shop.create("Top")
    chain = [top]
    for n in range(3000):
        [made], _ = catalog.create_categories(
            shop.id, [CategoryChanges(name=f"Level {n}", parent_id=chain[-1])]
        )
        chain.append(made)
    deepest = client.get(f"/store/{shop.id}/level-2999-c{chain[-1]}")
    assert deepest.status_code == 200
    trail = deepest.text.split("<nav aria-label=Breadcrumb>")[1].split("</nav>")[0]
    assert trail.count("<a ") == 21 and "&hellip;" in trail  # the store, and 20 above
    assert client.get(f"/store/{shop.id}/no-such-slug").status_code == 404
    shop.client.put(
        f"/api/v3/{shop.id}/categories/{top}", json={"enabled": False}, headers=shop.auth
    )
    assert client.get(f"/store/{shop.id}/level-2999-c{chain[-1]}").status_code == 404


@pytest.fixture(scope="module")
def live_shop() -> Iterator[tuple[Shop, Services]]:
    data_dir = Path(tempfile.mkdtemp(prefix="vitrina-storefront-"))
    port = free_port()
    config = Settings(data_dir=data_dir, port=port, rate_limit_per_minute=0, run_jobs=False)
    services = migrated(config)
    try:
        with (
            serving(create_app(config, services), port) as base,
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            yield Shop(services, client, base), services
    finally:
        services.close()
        shutil.rmtree(data_dir, ignore_errors=True)


_WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="scripts/test-deps.sh installs chromium")
def test_the_fragment_opens_the_category(live_shop: tuple[Shop, Services]) -> None:
    from playwright.sync_api import sync_playwright

    shop, _ = live_shop
    toys = shop.create("Toys", description="Wooden toys.")
    cars = shop.create("Cars", parentId=toys)
    shop.upload(toys, images.phone_jpeg())  # 12 MP, held upright (EXIF orientation 6)
    shown = shop.category(toys)
    url = shown["url"]
    assert url.endswith(f"/store/{shop.id}/#!/toys/c/{toys}")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        context.add_init_script(_WATCH_CSP)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
        page.goto(url)
        page.wait_for_selector("h1:text-is('Toys')")
        assert page.url == url  # the category's own URL stays in the address bar
        assert page.title() == "Toys · Toy shop"
        picture = page.locator("figure img")
        picture.evaluate("i => i.decode()")  # loaded and decoded (a broken one rejects)
        # one of the three fits (naturalWidth is scaled by srcset's density), upright
        source, width, height = picture.evaluate(
            "i => [i.currentSrc, i.naturalWidth, i.naturalHeight]"
        )
        fits = {shown[f] for f in ("thumbnailUrl", "hdThumbnailUrl", "imageUrl")}
        assert source in fits and abs(width / height - 3 / 4) < 0.01
        assert picture.evaluate("i => i.getBoundingClientRect().width") > 0
        # a link to a subcategory, then back, then another fragment
        page.click("text=Cars")
        page.wait_for_selector("h1:text-is('Cars')")
        assert page.url.endswith(f"/store/{shop.id}/cars-c{cars}")
        page.go_back()
        page.wait_for_selector("h1:text-is('Toys')")
        page.evaluate(f"location.hash = '#!/cars/c/{cars}'")
        page.wait_for_selector("h1:text-is('Cars')")
        page.evaluate("location.hash = ''")
        page.wait_for_selector("h1:text-is('Toy shop')")
        page.evaluate("location.hash = '#!/nothing/c/999'")
        page.wait_for_selector("h1:text-is('Not found')")
        violations = page.evaluate("window.__csp")
        context.close()
        browser.close()
    # the deliberate 404 is the one error Chromium logs
    assert [p for p in problems if "404" not in p] == []
    assert violations == []
