"""Two server processes on one PostgreSQL database: a write confirmed by one
is seen by the very next read through the other, though each keeps its own
cached tree (the version check is awaited on the event loop), and though
other clients keep the reader busy, so that its checks are shared."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import live_vitrina
from vitrina.usecases.tokens import create_token

pytestmark = pytest.mark.slow


def test_a_write_through_one_process_is_read_through_the_other(
    tmp_path: Path, postgres: Any, s3: Any
) -> None:
    with postgres.database() as url:
        shared = {"database_url": url, **s3.settings(uuid.uuid4().hex)}
        with live_vitrina(tmp_path / "a", **shared) as first:
            # the second process serves the same store, with a token of its own
            second_token, _ = create_token(first.services.metadata, first.store, frozenset(
                {"read_catalog"}))  # fmt: skip
            with live_vitrina(tmp_path / "b", **shared) as second:
                writer = httpx.Client(
                    base_url=f"{first.api}/{first.store}",
                    headers={"Authorization": f"Bearer {first.token}"},
                )
                reader = httpx.Client(
                    base_url=f"{second.api}/{first.store}",
                    headers={"Authorization": f"Bearer {second_token}"},
                )
                category = writer.post("/categories", json={"name": "v0"}).json()["id"]
                assert reader.get(f"/categories/{category}").json()["name"] == "v0"  # cached
                stop = threading.Event()
                statuses: list[int] = []

                def busy() -> None:  # a storefront reading meanwhile
                    with httpx.Client(base_url=reader.base_url, headers=reader.headers) as c:
                        while not stop.is_set():
                            statuses.append(c.get(f"/categories/{category}").status_code)

                others = [threading.Thread(target=busy) for _ in range(4)]
                for thread in others:
                    thread.start()
                for n in range(1, 40):
                    assert (
                        writer.put(f"/categories/{category}", json={"name": f"v{n}"}).status_code
                        == 200
                    )
                    seen = reader.get(f"/categories/{category}").json()["name"]
                    assert seen == f"v{n}"
                    found = reader.get("/categories", params={"keyword": f"v{n}"}).json()
                    assert [c["id"] for c in found["items"]] == [category]
                stop.set()
                for thread in others:
                    thread.join()
                assert statuses and set(statuses) == {200}
                writer.close()
                reader.close()
