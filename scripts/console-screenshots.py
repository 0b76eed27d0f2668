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
from tests.conftest import migrated  # noqa: E402 -- after the path is set
from tests.live import serving  # noqa: E402
from tests.processes import free_port  # noqa: E402
from tests.sample_store import photo_file  # noqa: E402

from vitrina import images as image_cases  # noqa: E402
from vitrina.interfaces import SCOPES  # noqa: E402
from vitrina.settings import Settings  # noqa: E402
from vitrina.tokens import create_token  # noqa: E402
from vitrina.web.app import create_app  # noqa: E402

SHOP = {
    "Toys": ["Cars", "Kites", "Puzzles"],
    "Books": ["Picture books", "Comics"],
    "Garden": ["Seeds", "Tools"],
}


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-screenshots-"))
    port = free_port()
    settings = Settings(data_dir=data, port=port, rate_limit_per_minute=0, run_jobs=False)
    services = migrated(settings)
    try:
        store = services.metadata.stores.create_store("Toy shop", "https://shop.example.com")
        token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
        catalog = services.metadata.catalog
        seed = 0
        selected = 0
        for order, (name, children) in enumerate(SHOP.items(), 1):
            parent = catalog.create_category(store.id, {"name": name, "order_by": order * 10})
            for n, child in enumerate(children, 1):
                fields = {"name": child, "parent_id": parent, "order_by": n * 10}
                if child == "Comics":
                    fields["enabled"] = False
                category = catalog.create_category(store.id, fields)
                seed += 1
                source = photo_file(data, seed, 1600, 1200)
                image_cases.upload(services, store, category, source)
                selected = selected or category
        with serving(create_app(settings, services), port) as base, sync_playwright() as pw:
            api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
            api.get(f"/api/v3/{store.id}/categories", params={"keyword": "kite"})
            api.get(f"/api/v3/{store.id}/categories/999")
            api.put(f"/api/v3/{store.id}/categories/{selected}", json={"name": ""})
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{base}/console/#store={store.id}&token={token}")
            page.wait_for_selector("#tree-status:has-text('categories')")
            for name in SHOP:
                page.locator(".treeitem > .row", has_text=name).first.locator(".toggle").click()
            page.locator(".treeitem > .row", has_text="Cars").first.click()
            page.wait_for_selector(".files td:has-text('1600 \u00d7 1200')")
            page.wait_for_timeout(500)
            page.screenshot(path=str(ROOT / "docs" / "console-tree.png"))
            page.click("#tab-requests")
            page.wait_for_selector("#log-rows tr")
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "console-requests.png"))
            browser.close()
            api.close()
    finally:
        services.close()
        shutil.rmtree(data, ignore_errors=True)
    print("wrote docs/console-tree.png and docs/console-requests.png")


if __name__ == "__main__":
    main()
