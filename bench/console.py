"""Console benchmark: load /console/ for a store of 1,000 categories (300
with photos) in headless Chromium, and report the time until the tree is
interactive and the bytes transferred besides thumbnails. The baseline,
measured in the same browser in the same run, is the server's /docs page
(one server-rendered HTML page). Targets: under 500 ms and under
300 KB beyond thumbnails; thumbnails load lazily.

    python bench/console.py [--runs 7] [--categories 1000] [--images 300]

Needs Debian's chromium (scripts/test-deps.sh installs it). Everything
listens on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import live_vitrina  # noqa: E402 -- after the path is set
from tests.sample_store import fill  # noqa: E402


def load(browser: Any, url: str, ready: str) -> tuple[float, int, int, int]:
    """(ms until ``ready`` matches, bytes besides images, image bytes, images)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sizes: list[tuple[str, int]] = []

    def finished(request: Any) -> None:
        response = request.response()
        body = response.body() if response and response.status < 300 else b""
        sizes.append((request.resource_type, len(body)))

    page.on("requestfinished", finished)
    page.goto(url)
    page.wait_for_selector(ready)
    elapsed = page.evaluate("performance.now()")
    page.wait_for_load_state("networkidle")
    context.close()
    images = [n for kind, n in sizes if kind == "image"]
    other = sum(n for kind, n in sizes if kind != "image")
    return elapsed, other, sum(images), len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vitrina-bench-console-"))
    try:
        with live_vitrina(data, store_name="Bench store") as live, sync_playwright() as pw:
            per_root = 19
            roots = args.categories // (per_root + 1)
            print(f"building {roots * (per_root + 1)} categories, {args.images} with photos ...")
            store = live.services.metadata.stores.get_store(live.store)
            assert store is not None
            fill(live.services, store, roots, per_root, args.images)
            base = live.base
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            ready = "#tree-status:has-text('categories')"
            # each load is a new browser context: it signs in by a new link
            load(browser, live.signin_link(), ready)  # warm-up: caches, first render
            load(browser, f"{base}/docs", "h1")
            console_runs, docs_runs = [], []
            for _ in range(args.runs):  # alternating, so drift hits both
                console_runs.append(load(browser, live.signin_link(), ready))
                docs_runs.append(load(browser, f"{base}/docs", "h1"))
            browser.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    tti = statistics.median(r[0] for r in console_runs)
    docs = statistics.median(r[0] for r in docs_runs)
    _, other, image_bytes, image_count = console_runs[-1]
    print(f"median of {args.runs} runs, {args.categories} categories, {args.images} with photos")
    print(f"  console: tree interactive     {tti:7.0f} ms   (target < 500 ms)")
    print(f"  baseline: /docs page ready    {docs:7.0f} ms")
    print(f"  ratio console / baseline      {tti / docs:7.2f}x")
    print(f"  bytes besides thumbnails      {other / 1024:7.1f} KB  (target < 300 KB)")
    print(f"  thumbnails loaded (lazy)      {image_count:7d}   ({image_bytes / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
