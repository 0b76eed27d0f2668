"""A 45 s mixed load on `vitrina serve --workers 2` (loopback, bounded in time
and count): uploads, replaces, image and category deletes, category and file
reads at once. It ends with no 5xx, no dropped connection, no orphan file (no
sweep is run first) and no dangling URL."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import sample_images as images
from tests.processes import Server, vitrina_serve
from vitrina.bootstrap import build_services
from vitrina.settings import Settings

pytestmark = pytest.mark.slow

SECONDS = 45.0
BODIES = [
    images.phone_jpeg(6, profile="p3", size=(1200, 1600)),
    images.png(900, 700, alpha=True),
    images.webp(1000, 800),
    images.jpeg(1600, 1200),
]


class Load:
    def __init__(self, server: Server, categories: list[int]) -> None:
        self.server = server
        self.categories = categories
        self.statuses: Counter[str] = Counter()
        self.problems: list[str] = []
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + SECONDS
        self.client = httpx.Client(
            base_url=server.base,
            headers={"Authorization": f"Bearer {server.token()}"},
            timeout=60,
            limits=httpx.Limits(max_connections=32),
        )

    def record(self, what: str, response: httpx.Response, allowed: tuple[int, ...]) -> None:
        with self.lock:
            self.statuses[f"{what} {response.status_code}"] += 1
            if response.status_code not in allowed:
                self.problems.append(f"{what}: {response.status_code} {response.text[:200]}")

    def call(self, what: str, allowed: tuple[int, ...], method: str, url: str, **kw: Any) -> None:
        try:
            response = self.client.request(method, url, **kw)
        except httpx.TransportError as exc:
            with self.lock:
                self.problems.append(f"{what}: connection dropped ({exc!r})")
            return
        self.record(what, response, allowed)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and len(self.problems) < 20

    def uploader(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.running():
            category_id = rng.choice(self.categories)
            self.call(
                "upload",
                (200, 404),  # 404: the category was deleted meanwhile
                "POST",
                f"/api/v3/1/categories/{category_id}/image",
                content=rng.choice(BODIES),
            )

    def deleter(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.running():
            category_id = rng.choice(self.categories)
            if rng.random() < 0.7:
                self.call(
                    "delete image",
                    (200, 404),
                    "DELETE",
                    f"/api/v3/1/categories/{category_id}/image",
                )
            else:  # delete a category with its subtree, and put a new one in its place
                self.call(
                    "delete category", (200, 404), "DELETE", f"/api/v3/1/categories/{category_id}"
                )
                response = self.client.post("/api/v3/1/categories", json={"name": "Again"})
                self.record("create", response, (200,))
                if response.status_code == 200:
                    with self.lock:
                        self.categories[self.categories.index(category_id)] = response.json()["id"]
            time.sleep(0.05)

    def reader(self, seed: int) -> None:
        rng = random.Random(seed)
        while self.running():
            if rng.random() < 0.3:
                self.call("search", (200,), "GET", "/api/v3/1/categories", params={"limit": 50})
                continue
            category_id = rng.choice(self.categories)
            try:
                response = self.client.get(f"/api/v3/1/categories/{category_id}")
            except httpx.TransportError as exc:
                with self.lock:
                    self.problems.append(f"get: connection dropped ({exc!r})")
                continue
            self.record("get", response, (200, 404))
            if response.status_code != 200:
                continue
            for field in ("thumbnailUrl", "originalImageUrl"):
                url = response.json().get(field)
                if url:
                    # 404: replaced or deleted since the category was read
                    self.call("file", (200, 404), "GET", url)


def test_mixed_load_on_two_processes_leaves_no_5xx_orphan_or_dangling_url(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "0", "VITRINA_LOG_LEVEL": "warning"}
    with vitrina_serve(data, "--workers", "2", env=env) as server:
        setup = httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {server.token()}"}, timeout=60
        )
        roots = [
            setup.post("/api/v3/1/categories", json={"name": f"R{n}"}).json()["id"]
            for n in range(4)
        ]
        children = [
            setup.post(
                "/api/v3/1/categories", json={"name": f"C{n}", "parentId": roots[n % 4]}
            ).json()["id"]
            for n in range(8)
        ]
        load = Load(server, roots + children)
        workers = (
            [threading.Thread(target=load.uploader, args=(n,)) for n in range(3)]
            + [threading.Thread(target=load.deleter, args=(10,))]
            + [threading.Thread(target=load.reader, args=(20 + n,)) for n in range(4)]
        )
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(SECONDS + 120)
        load.client.close()
        assert not load.problems, (load.problems[:10], load.statuses)
        assert load.statuses["upload 200"] > 20, load.statuses
        assert load.statuses["file 200"] > 50, load.statuses
        assert "Traceback" not in server.output(), server.output()[-3000:]

        # No dangling URL: every file a category points at is served whole.
        services = build_services(Settings(data_dir=data))
        try:
            referenced: set[str] = set()
            for category in services.metadata.catalog.list_categories(1):
                if category.image is None:
                    continue
                for file in category.image.files:
                    key = f"1/{file.id}.{file.ext}"
                    referenced.add(f"1/{file.blob}.{file.ext}")  # where its bytes are
                    response = setup.get(f"/images/{key}")
                    assert response.status_code == 200, key
                    assert len(response.content) == file.size
            # No orphan: without any sweep, the storage holds exactly those files.
            stored = {entry.key for entry in services.blobs.list()}
            assert stored == referenced, (len(stored - referenced), len(referenced - stored))
        finally:
            services.close()
            setup.close()
