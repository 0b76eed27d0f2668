"""Refresh docs/storefront.png: the storefront preview of a category, opened
by its default url (…/store/1/#!/toys/c/1) in headless Chromium, for a small
toy shop whose photos are what phones send (12 MP JPEGs in Display P3,
turned by EXIF orientation), uploaded through the API.

    .venv/bin/python scripts/storefront-screenshot.py

Needs Debian's chromium (scripts/test-deps.sh installs it). The server runs
on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests import sample_images as images  # noqa: E402 -- after the path is set
from tests.conftest import migrated  # noqa: E402
from tests.live import serving  # noqa: E402
from tests.processes import free_port  # noqa: E402

from vitrina.backends.metadata.sql_stores import STORE_ID  # noqa: E402
from vitrina.domain.values import SCOPES  # noqa: E402
from vitrina.settings import Settings  # noqa: E402
from vitrina.usecases.tokens import create_token  # noqa: E402
from vitrina.web.app import create_app  # noqa: E402

LANDSCAPE = (4032, 3024)
TOYS = (
    "Wooden toys made to be handed down: cars, kites and puzzles, sanded smooth "
    "and finished with beeswax.<p>Every piece is made in our workshop.</p>"
)
CHILDREN = [("Cars", 6, images.PHONE), ("Kites", 1, LANDSCAPE), ("Puzzles", 8, images.PHONE)]
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


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-storefront-"))
    port = free_port()
    settings = Settings(data_dir=data, port=port, run_jobs=False, rate_limit_per_minute=0)
    services = migrated(settings)
    try:
        with serving(create_app(settings, services), port) as base, sync_playwright() as pw:
            store = services.metadata.stores.create_store("Toy shop", f"{base}/store/{STORE_ID}")
            token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
            api = httpx.Client(
                base_url=f"{base}/api/v3/{store.id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            )

            def create(name: str, **fields: object) -> int:
                answer = api.post("/categories", json={"name": name, **fields})
                answer.raise_for_status()
                category_id: int = answer.json()["id"]
                return category_id

            def upload(category_id: int, orientation: int, size: tuple[int, int]) -> None:
                photo = images.phone_jpeg(orientation, size=size)
                api.post(f"/categories/{category_id}/image", content=photo).raise_for_status()

            toys = create("Toys", description=TOYS)
            upload(toys, 1, LANDSCAPE)
            for name, orientation, size in CHILDREN:
                upload(create(name, parentId=toys), orientation, size)
            create("Garden")
            url = api.get(f"/categories/{toys}").json()["url"]
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 860})
            page.goto(url)
            page.wait_for_selector("h1:text-is('Toys')")
            # every image shown (the cards load lazily, all within this viewport)
            page.evaluate("Promise.all([...document.images].map((i) => i.decode()))")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "storefront.png"), full_page=True)
            browser.close()
            api.close()
    finally:
        services.close()
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote docs/storefront.png ({url})")


if __name__ == "__main__":
    main()
