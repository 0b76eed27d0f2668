"""vitrina.client against live servers over real HTTP: every call, typed
results and errors, streaming uploads, the retry rules (429 Retry-After, a
server stopped and restarted mid-run), and that the client imports nothing
of the server."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import sample_images as images
from tests.live import Live, live_vitrina
from tests.processes import start_serve, stop, wait_ready
from vitrina.client import (
    ApiError,
    AsyncClient,
    Client,
    NewCategory,
    NotFound,
    RateLimited,
    Retries,
)
from vitrina.domain.values import CategoryChanges

QUICK = Retries(attempts=6, base=0.05, cap=0.5)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_vitrina(tmp_path / "data") as server:
        yield server


def client(live: Live, **options: object) -> Client:
    return Client(live.store, live.token, live.api, **options)  # type: ignore[arg-type]


def test_categories_from_create_to_delete(live: Live) -> None:
    with client(live) as api:
        toys = api.categories.create({"name": "Toys", "description": "All toys"})
        cars = api.categories.create(NewCategory(name="Cars", parentId=toys))
        assert api.categories.update(cars, {"enabled": False, "orderBy": 5}) == 1
        got = api.categories.get(cars)
        assert (got.name, got.parentId, got.enabled, got.orderBy) == ("Cars", toys, False, 5)
        assert [c.name for c in api.categories.by_path("toys/cars", hidden_categories=True)] == [
            "Cars"
        ]
        assert [c.id for c in api.categories.search(parent=0)] == [toys]
        assert api.categories.delete(toys) == 1
        with pytest.raises(NotFound) as missing:
            api.categories.get(cars)
        assert missing.value.status == 404
        assert missing.value.error_code == "CATEGORY_NOT_FOUND"
        assert str(cars) in missing.value.message
        assert api.profile().generalInfo.storeId == live.store


def test_search_pages_by_itself(live: Live) -> None:
    with client(live) as api:
        for n in range(230):
            live.services.metadata.catalog.create_category(
                live.store, CategoryChanges(name=f"C{n:03d}")
            )[0]
        names = [c.name for c in api.categories.search(keyword="C")]
        assert names == [f"C{n:03d}" for n in range(230)]
        pages = [r for r in live.requests("/categories") if r["method"] == "GET"]
        assert len(pages) == 3  # 100 + 100 + 30


def test_uploads_from_a_path_bytes_and_a_file_are_streamed(live: Live, tmp_path: Path) -> None:
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(images.phone_jpeg())
    with client(live) as api:
        category = api.categories.create({"name": "Photos"})
        first = api.images.upload(category, photo)
        second = api.images.upload(category, images.png(640, 480, alpha=True))
        with photo.open("rb") as opened:
            third = api.images.upload(category, opened)
        assert first < second < third
        shown = api.categories.get(category)
        assert shown.originalImage is not None
        assert (shown.originalImage.width, shown.originalImage.height) == (3024, 4032)  # type: ignore[union-attr]
        assert api.images.delete(category) == 1
        assert api.images.delete(category) == 0
        with pytest.raises(ApiError) as refused:
            api.images.upload(category, b"not an image at all")
        assert (refused.value.status, refused.value.error_code) == (422, "INVALID_IMAGE")
        with pytest.raises(ApiError) as wrong:
            api.images.upload_from_url(category, "http://images.example/a.jpg")
        assert wrong.value.error_code == "WRONG_URL"
        job = api.images.upload_async(category, "https://images.example/a.jpg", 800, 600, "ext-1")
        assert api.categories.get(category).imageExternalId == "ext-1"
        assert job > third
    posts = [r for r in live.requests("/image") if r["method"] == "POST"]
    assert len(posts) == 6  # each once: nothing retried that should not be


def test_the_async_client_has_the_same_surface(live: Live) -> None:
    async def scenario() -> list[str]:
        async with AsyncClient(live.store, live.token, live.api) as api:
            toys = await api.categories.create({"name": "Toys"})
            await api.categories.create({"name": "Kites", "parentId": toys})
            await api.images.upload(toys, io.BytesIO(images.jpeg(1200, 900)))
            assert (await api.categories.get(toys)).thumbnail is not None
            assert [c.name for c in await api.categories.by_path("Toys/Kites")] == ["Kites"]
            assert (await api.profile()).settings.storeName == "Shop"
            with pytest.raises(NotFound):
                await api.categories.update(999, {"name": "x"})
            return [c.name async for c in api.categories.search(hidden_categories=True)]

    assert asyncio.run(scenario()) == ["Toys", "Kites"]


class Busy(BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 1 to the first request, then 200."""

    seen: list[float] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Busy.seen.append(time.monotonic())
        if len(Busy.seen) == 1:
            body = b'{"errorMessage": "Too many requests", "errorCode": "TOO_MANY_REQUESTS"}'
            self.send_response(429)
            self.send_header("Retry-After", "1")
        else:
            body = b'{"id": 7, "name": "Seven"}'
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_retry_after_is_honoured_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Busy.seen = []
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with caplog.at_level(logging.DEBUG, "vitrina.client"), Client(1, "t", base) as api:
            assert api.categories.get(7).name == "Seven"
    finally:
        server.shutdown()
        server.server_close()
    assert Busy.seen[1] - Busy.seen[0] >= 0.95
    assert any("retrying GET /categories/7" in r.message for r in caplog.records)


def test_a_real_rate_limit_is_a_typed_error_when_retries_run_out(tmp_path: Path) -> None:
    with (
        live_vitrina(tmp_path / "data", rate_limit_per_minute=2) as live,
        client(live, retries=Retries(attempts=1)) as api,
    ):
        api.profile()
        api.profile()
        with pytest.raises(RateLimited) as limited:
            api.profile()
    assert limited.value.status == 429
    assert limited.value.error_code


@pytest.mark.slow
def test_a_server_stopped_and_restarted_mid_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_serve(data)
    wait_ready(server)
    token, port = server.token(), int(server.base.rsplit(":", 1)[1])
    restarted: list[object] = []

    def restart() -> None:
        time.sleep(1.5)
        restarted.append(start_serve(data, port=port))

    try:
        # retried for about a minute: a loaded machine may take long to start it again
        with Client(1, token, server.base + "/api/v3", retries=Retries(35, 0.3, 2.0)) as api:
            kept = api.categories.create({"name": "Kept"})
            stop(server.process)
            threading.Thread(target=restart).start()
            assert api.categories.get(kept).name == "Kept"  # GET: retried until it is back
            assert api.images.upload(kept, images.jpeg(800, 600)) > 0
    finally:
        for again in restarted:
            stop(again.process)  # type: ignore[attr-defined]
        if server.process.poll() is None:
            stop(server.process)


def test_a_post_is_not_repeated_after_the_server_may_have_acted() -> None:
    retries = Retries()
    import httpx

    answer = httpx.Response(502)
    assert retries.wait_for(0, idempotent=False, response=answer, error=None) is None
    assert retries.wait_for(0, idempotent=True, response=answer, error=None) is not None
    read_failed = httpx.ReadError("reset")
    assert retries.wait_for(0, idempotent=False, response=None, error=read_failed) is None
    refused = httpx.ConnectError("refused")
    assert retries.wait_for(0, idempotent=False, response=None, error=refused) is not None
    busy = httpx.Response(503, headers={"Retry-After": "2"})
    assert retries.wait_for(0, idempotent=False, response=busy, error=None) == 2.0
    assert retries.wait_for(4, idempotent=True, response=busy, error=None) is None  # the last


_BLOCK_SERVER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'sqlalchemy', 'alembic', 'pyvips', 'starlette', 'uvicorn',
                                  'numpy', 'boto3', 'psycopg'}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""


def test_the_client_needs_none_of_the_server() -> None:
    script = _BLOCK_SERVER + (
        "from vitrina.client import Client, AsyncClient\n"
        "from vitrina.cli import main\n"
        "import contextlib, io\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['upload', '--help'])\n"
        "assert 'PHOTOS' in out.getvalue().upper() or 'folder' in out.getvalue()\n"
        "print('serve:', main(['serve']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert "serve: 2" in run.stdout
    assert "pip install 'vitrina[server]'" in run.stderr
