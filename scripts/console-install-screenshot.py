"""Refresh docs/console-install.png and docs/console-app-page.png: an app's
install page (signed in, Install and Cancel), and the example app's native
page opened in the console's Apps page, photographed in headless Chromium.

    .venv/bin/python scripts/console-install-screenshot.py

Needs Debian's chromium (scripts/test-deps.sh installs it). vitrina and the
example app (examples/oauth_app.py) run on 127.0.0.1 and stop at the end.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.live import live_vitrina  # noqa: E402 -- after the path is set
from tests.processes import free_port  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-screenshots-"))
    port = free_port()
    example = f"http://127.0.0.1:{port}"
    try:
        with (
            live_vitrina(
                data,
                store_name="Toy shop",
                run_jobs=True,
                webhook_allow_http=True,
                webhook_allow_networks=("127.0.0.0/8",),
            ) as live,
            sync_playwright() as pw,
        ):
            api = httpx.Client(
                base_url=f"{live.api}/{live.store}",
                headers={"Authorization": f"Bearer {live.token}"},
            )
            for name in ("Toys", "Kites", "Puzzles"):
                api.post("/categories", json={"name": name})
            app = api.post(
                "/_webhooks/apps",
                json={
                    "name": "Stock sync",
                    "scopes": ["read_catalog", "update_catalog"],
                    "webhookUrl": f"{example}/webhooks",
                    "redirectUri": f"{example}/oauth",
                    "iframeUrl": f"{example}/page",
                },
            ).json()
            command = [sys.executable, str(ROOT / "examples" / "oauth_app.py")]
            command += ["--vitrina", live.base, "--port", str(port)]
            command += ["--client-id", app["clientId"], "--client-secret", app["clientSecret"]]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            try:
                for _ in range(100):
                    try:
                        httpx.get(f"{example}/")
                        break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 900, "height": 640})
                page.goto(live.signin_link())
                page.wait_for_selector("#tree-status:has-text('categories')")
                page.goto(f"{example}/")
                page.click("text=Install in vitrina")
                page.wait_for_selector("#install:not([disabled])")
                page.screenshot(path=str(ROOT / "docs" / "console-install.png"))
                page.click("#install")
                page.wait_for_url(f"{example}/oauth?*")
                page.set_viewport_size({"width": 1280, "height": 800})
                page.goto(f"{live.base}/console/")
                page.wait_for_selector("#tabs:not([hidden])")
                page.click("#tab-apps")
                page.click(f".app-item[data-id='{app['id']}']")
                page.click("#open-app")
                frame = page.frame_locator("#app-page").frame_locator("#app-frame")
                frame.locator("h1").wait_for()
                page.locator(".app-page").scroll_into_view_if_needed()
                page.wait_for_timeout(300)
                page.screenshot(path=str(ROOT / "docs" / "console-app-page.png"))
                browser.close()
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(10)
            api.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print("wrote docs/console-install.png and docs/console-app-page.png")


if __name__ == "__main__":
    main()
