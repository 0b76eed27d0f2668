"""Refresh the console's screenshots in docs/ (docs/console-tree.png and
docs/console-requests.png): a small toy shop with photos, a little traffic,
photographed in headless Chromium.

    .venv/bin/python scripts/console-screenshots.py

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
from tests.live import live_vitrina  # noqa: E402 -- after the path is set
from tests.sample_store import photo_file  # noqa: E402

from vitrina.domain.values import CategoryChanges  # noqa: E402
from vitrina.usecases import category_images as image_cases  # noqa: E402

SHOP = {
    "Toys": ["Cars", "Kites", "Puzzles"],
    "Books": ["Picture books", "Comics"],
    "Garden": ["Seeds", "Tools"],
}


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-screenshots-"))
    try:
        with live_vitrina(data, store_name="Toy shop") as live, sync_playwright() as pw:
            services, base = live.services, live.base
            store = services.metadata.stores.get_store(live.store)
            assert store is not None
            catalog = services.metadata.catalog
            seed = 0
            selected = 0
            for order, (name, children) in enumerate(SHOP.items(), 1):
                parent = catalog.create_category(
                    store.id, CategoryChanges(name=name, order_by=order * 10)
                )[0]
                for n, child in enumerate(children, 1):
                    fields = {"name": child, "parent_id": parent, "order_by": n * 10}
                    if child == "Comics":
                        fields["enabled"] = False
                    category = catalog.create_category(store.id, fields)
                    image_cases.upload(services, store, category, photo_file(data, seed))
                    seed += 1
                    selected = selected or category
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {live.token}"})
            api.get(f"/api/v3/{store.id}/categories", params={"keyword": "kite"})
            api.get(f"/api/v3/{store.id}/categories/999")
            api.put(f"/api/v3/{store.id}/categories/{selected}", json={"name": ""})
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(live.signin_link())
            page.wait_for_selector("#tree-status:has-text('categories')")
            for name in SHOP:
                page.locator(".treeitem > .row", has_text=name).first.locator(".toggle").click()
            page.locator(".treeitem > .row", has_text="Cars").first.click()
            # the first photo: a phone's, held upright (EXIF orientation 6)
            page.wait_for_selector(".files td:has-text('3024 \u00d7 4032')")
            page.wait_for_timeout(500)
            page.screenshot(path=str(ROOT / "docs" / "console-tree.png"))
            page.click("#tab-requests")
            page.wait_for_selector("#log-rows tr")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "console-requests.png"))
            browser.close()
            api.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print("wrote docs/console-tree.png and docs/console-requests.png")


if __name__ == "__main__":
    main()
