"""Refresh docs/console-apps.png: the console's Apps page with an app's
delivery log, one delivery opened on its two attempts (a 500, then the
retry's 200), photographed in headless Chromium.

    .venv/bin/python scripts/console-apps-screenshot.py

Needs Debian's chromium (scripts/test-deps.sh installs it). vitrina and the
app's receiver run on 127.0.0.1 and stop at the end.
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
from tests.receiver import receiver  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-screenshots-"))
    try:
        with (
            receiver() as hooks,
            live_vitrina(
                data,
                store_name="Toy shop",
                run_jobs=True,
                webhook_allow_http=True,
                webhook_allow_networks=("127.0.0.0/8",),
                webhook_retry_seconds=(1.0,),
            ) as live,
            sync_playwright() as pw,
        ):
            api = httpx.Client(
                base_url=f"{live.api}/{live.store}",
                headers={"Authorization": f"Bearer {live.token}"},
            )
            app = api.post(
                "/_webhooks/apps",
                json={"name": "Search index", "webhookUrl": hooks.url("/flaky/1")},
            ).json()
            toys = api.post("/categories", json={"name": "Toys"}).json()["id"]
            api.post("/categories", json={"name": "Kites", "parentId": toys})
            api.put(f"/categories/{toys}", json={"description": "Everything that rolls"})
            hooks.wait_for(8)  # four events, each failed once and sent again
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(live.signin_link())
            page.wait_for_selector("#tree-status:has-text('categories')")
            page.click("#tab-apps")
            page.click(f".app-item[data-id='{app['id']}']")
            row = page.locator("#hooks-rows tr.delivery.delivered", has_text="category.updated")
            row.first.wait_for()
            row.first.locator("[data-action=attempts]").click()
            page.wait_for_selector(".attempt[data-number='2']")
            page.locator("#hooks-title").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "console-apps.png"))
            browser.close()
            api.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print("wrote docs/console-apps.png")


if __name__ == "__main__":
    main()
