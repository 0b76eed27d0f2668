"""The client, `vitrina upload` and `vitrina mirror` against a server that
misbehaves: names and messages that are terminal escapes or Rich markup,
answers that are huge, endless, trickled, malformed or redirected, pages
without end, and image URLs aimed at this machine. The server is a small
HTTP server on 127.0.0.1 started by each test; it records every request and
counts the body bytes it sent. No test sends a packet off loopback."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests import sample_images as images
from tests.live import live_vitrina
from tests.processes import wait_until
from vitrina.backends.fetching.addresses import IPAddress
from vitrina.cli import main
from vitrina.client import (
    AsyncClient,
    BadResponse,
    Client,
    RateLimited,
    Retries,
    ServerError,
)
from vitrina.client.mirror import ANYWHERE, DownloadRefused, SourceImages, SourcePolicy
from vitrina.wire import Size

# Server-provided text that must reach the terminal as text, never as markup or escapes.
HOSTILE_NAMES = [
    "Sale [/] 50%",
    "[bold]Bold[/bold] claims",
    "Wipe\x1b[2Jscreen",
    "Clip\x1b]52;c;ZWNobyBwd25lZA==\x07board",
    "Link\x1b]8;;http://x\x07here\x1b]8;;\x07",
    "C1\x9b31mred and \u202eevil bidi",
]
SEQUENCES = ["\x1b", "\x07", "\x9b", "\u202e"]


# -- a misbehaving server --------------------------------------------------------------


class Exchange:
    """One request to the hostile server, and the ways to answer it."""

    def __init__(self, handler: BaseHTTPRequestHandler, server: Hostile) -> None:
        self.handler = handler
        self.server = server
        parts = urlsplit(handler.path)
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}

    def body(self) -> bytes:
        headers = self.handler.headers
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.handler.rfile.readline().strip() or b"0", 16):
                data += self.handler.rfile.read(size)
                self.handler.rfile.readline()
            self.handler.rfile.readline()
            return data
        return self.handler.rfile.read(int(headers.get("Content-Length") or 0))

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.handler.send_header(name, value)
        self.handler.end_headers()
        self.stream([body])

    def json(self, value: Any, status: int = 200) -> None:
        data = json.dumps(value).encode()
        self.answer(status, data, {"Content-Type": "application/json"})

    def error(self, status: int, message: str, code: str = "WRONG_PARAMETER") -> None:
        self.json({"errorMessage": message, "errorCode": code}, status)

    def stream(self, chunks: Any, pause: float = 0.0) -> None:
        """Write ``chunks`` until they end or the client goes away."""
        try:
            for chunk in chunks:
                self.handler.wfile.write(chunk)
                self.handler.wfile.flush()
                with self.server.lock:
                    self.server.sent += len(chunk)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass

    def headers_then(self, chunks: Any, pause: float = 0.0, **headers: str) -> None:
        """200, no length (the body runs until the connection closes), then ``chunks``."""
        self.handler.send_response(200)
        for name, value in headers.items():
            self.handler.send_header(name.replace("_", "-"), value)
        self.handler.end_headers()
        self.stream(chunks, pause)


Route = Callable[[Exchange], None]


@dataclass
class Hostile:
    """Answers each (method, path) as its route says; 404 otherwise."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    answered: int = 0  # requests whose answer has ended
    sent: int = 0
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, path: str) -> Callable[[Route], Route]:
        def register(route: Route) -> Route:
            self.routes[(method, path)] = route
            return route

        return register

    def paths(self, prefix: str = "") -> list[str]:
        return [path for _, path in self.seen if path.startswith(prefix)]

    def store(self, store: int, categories: list[dict[str, Any]]) -> None:
        """A well-behaved listing of ``categories`` for ``store``."""

        @self.on("GET", f"/api/v3/{store}/categories")
        def listing(exchange: Exchange) -> None:
            offset = int(exchange.query.get("offset", 0))
            limit = int(exchange.query.get("limit", 100))
            items = categories[offset : offset + limit]
            exchange.json(
                {"total": len(categories), "count": len(items), "offset": offset,
                 "limit": limit, "items": items}
            )  # fmt: skip


@contextmanager
def hostile() -> Iterator[Hostile]:
    state = Hostile()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle_one(self) -> None:
            exchange = Exchange(self, state)
            state.seen.append((self.command, exchange.path))
            route = state.routes.get((self.command, exchange.path))
            try:
                if route is None:
                    exchange.error(404, "Not found", "NOT_FOUND")
                else:
                    route(exchange)
            finally:
                with state.lock:
                    state.answered += 1

        do_GET = do_POST = do_PUT = do_DELETE = handle_one

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="hostile-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[Hostile]:
    with hostile() as running:
        yield running


def category(category_id: int, name: str, **fields: Any) -> dict[str, Any]:
    return {"id": category_id, "name": name, "enabled": True, **fields}


@functools.cache
def phone_photo() -> bytes:
    return images.phone_jpeg()


def mirror_args(server: Hostile, *more: str, target: str | None = None) -> list[str]:
    """`vitrina mirror` from store 1 of the hostile server to store 2 (of ``target``)."""
    return [
        "mirror", "--from-url", server.base, "--from-store", "1", "--from-token", "t",
        "--to-url", target or server.base, "--to-store", "2", "--to-token", "t", *more,
    ]  # fmt: skip


def upload_args(server: Hostile, folder: Path, *more: str) -> list[str]:
    return ["upload", str(folder), "--url", server.base, "--store", "2", "--token", "t", *more]


def assert_inert(out: str) -> None:
    """No escape sequence, bell, C1 control or bidi override from the server got through."""
    for sequence in SEQUENCES:
        assert sequence not in out, (sequence, out)


# -- 10. terminal injection --------------------------------------------------------------


def test_mirror_prints_hostile_names_as_text(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.store(1, [category(n, name) for n, name in enumerate(HOSTILE_NAMES, 1)])
    server.store(2, [])
    code = main(mirror_args(server, "--state", str(tmp_path / "m.json"), "--dry-run"))
    out = capsys.readouterr().out
    assert code == 0
    assert_inert(out)
    for visible in ("Sale [/] 50%", "[bold]Bold[/bold] claims", "Wipe[2Jscreen", "C1"):
        assert visible in out, out


def test_mirror_failures_print_hostile_messages_as_text(
    server: Hostile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one failure, one line
    server.store(1, [category(n, name) for n, name in enumerate(HOSTILE_NAMES, 1)])
    server.store(2, [])

    @server.on("POST", "/api/v3/2/categories")
    def refuse(exchange: Exchange) -> None:
        name = json.loads(exchange.body())["name"]
        exchange.error(409, f"[/]{name} is taken\x1b]52;c;cm0gLXJmIH4=\x07", "CONSTRAINT")

    code = main(mirror_args(server, "--state", str(tmp_path / "m.json")))
    out = capsys.readouterr().out
    assert code == 1
    assert_inert(out)
    assert out.count("is taken") == len(HOSTILE_NAMES)
    assert "[/]Sale [/] 50% is taken" in out


def test_upload_prints_hostile_names_and_messages_as_text(
    server: Hostile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.store(2, [category(1, "[/]Toys\x1b[2J"), category(2, "[bold]Kites\x1b]8;;http://x\x07")])

    @server.on("POST", "/api/v3/2/categories/1/image")
    def refuse(exchange: Exchange) -> None:
        exchange.body()
        exchange.error(422, "Not an image [/] \x1b[2J\x1b]52;c;aGk=\x07", "INVALID_IMAGE")

    @server.on("POST", "/api/v3/2/categories/2/image")
    def accept(exchange: Exchange) -> None:
        assert exchange.body() == phone_photo()
        exchange.json({"id": 77})

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("1.jpg", "2.jpg", "[red]3.jpg"):
        (folder / name).write_bytes(phone_photo())
    code = main(upload_args(server, folder, "--dry-run"))
    out = capsys.readouterr().out
    assert code == 1  # 3 has no category
    assert_inert(out)
    assert "[/]Toys[2J" in out and "[bold]Kites" in out and "[red]3.jpg" in out

    monkeypatch.setenv("FORCE_COLOR", "1")  # a terminal: colours and the progress display on
    monkeypatch.setenv("COLUMNS", "200")
    code = main(upload_args(server, folder))
    out = capsys.readouterr().out
    assert code == 1
    assert "\x1b[" in out  # Rich's own colours: the console took itself for a terminal
    for sequence in ("\x1b[2J", "\x1b]", "\x07", "\x9b"):
        assert sequence not in out, (sequence, out)
    assert "Not an image [/]" in out
    assert server.paths("/api/v3/2/categories/2/image") == ["/api/v3/2/categories/2/image"]


# -- 9. answers that are huge, endless, slow, malformed or redirected ---------------------

KINDS = ["sync", "async"]
MiB = 1024 * 1024
SLACK = 32 * MiB  # what socket buffers on loopback hold after the client stopped reading


def endless_json(prefix: bytes = b'{"id": 1, "name": "', size: int = 512 * MiB) -> Iterator[bytes]:
    """A JSON object with a name ``size`` bytes long, made as it is sent."""
    yield prefix
    piece = b"x" * 65536
    for _ in range(size // len(piece)):
        yield piece
    yield b'"}'


def names(server: Hostile, kind: str, **options: Any) -> list[str]:
    """Every category of store 1, paged by Client or AsyncClient."""
    if kind == "sync":
        with Client(1, "t", server.base + "/api/v3", **options) as api:
            return [c.name for c in api.categories.search()]

    async def scenario() -> list[str]:
        async with AsyncClient(1, "t", server.base + "/api/v3", **options) as api:
            return [c.name async for c in api.categories.search()]

    return asyncio.run(scenario())


def first(server: Hostile, kind: str, **options: Any) -> str:
    """The name of category 1 of store 1, by Client or AsyncClient."""
    if kind == "sync":
        with Client(1, "t", server.base + "/api/v3", **options) as api:
            return api.categories.get(1).name

    async def scenario() -> str:
        async with AsyncClient(1, "t", server.base + "/api/v3", **options) as api:
            return (await api.categories.get(1)).name

    return asyncio.run(scenario())


def upload(server: Hostile, kind: str, image: bytes, **options: Any) -> int:
    """Upload ``image`` to category 1 of store 1, by Client or AsyncClient."""
    if kind == "sync":
        with Client(1, "t", server.base + "/api/v3", **options) as api:
            return api.images.upload(1, image)

    async def scenario() -> int:
        async with AsyncClient(1, "t", server.base + "/api/v3", **options) as api:
            return await api.images.upload(1, image)

    return asyncio.run(scenario())


def settled(server: Hostile) -> int:
    """The body bytes sent, once every answer has ended."""
    assert wait_until(lambda: server.answered == len(server.seen), timeout=30)
    return server.sent


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_answer_is_cut_off_at_the_cap(server: Hostile, kind: str) -> None:
    server.on("GET", "/api/v3/1/categories/1")(lambda e: e.headers_then(endless_json()))
    with pytest.raises(BadResponse) as caught:
        first(server, kind, max_response_bytes=MiB)
    assert caught.value.status == 200
    assert "max_response_bytes" in str(caught.value)
    assert caught.value.excerpt.startswith('{"id": 1, "name": "xxx')
    assert settled(server) < MiB + SLACK


@pytest.mark.parametrize("kind", KINDS)
def test_a_declared_length_over_the_cap_is_refused_unread(server: Hostile, kind: str) -> None:
    @server.on("GET", "/api/v3/1/categories/1")
    def declared(exchange: Exchange) -> None:
        exchange.headers_then(endless_json(), Content_Length=str(512 * MiB + 21))

    with pytest.raises(BadResponse, match="max_response_bytes"):
        first(server, kind, max_response_bytes=MiB)
    assert settled(server) < SLACK


def test_mirror_stops_reading_a_huge_listing_at_the_default_cap(
    server: Hostile, tmp_path: Path
) -> None:
    server.on("GET", "/api/v3/1/categories")(
        lambda e: e.headers_then(endless_json(b'{"total": 1, "items": [{"id": 1, "name": "'))
    )
    with pytest.raises(SystemExit) as stopped:
        main(mirror_args(server, "--state", str(tmp_path / "m.json")))
    assert "larger than max_response_bytes (67108864 bytes)" in str(stopped.value.code)
    assert settled(server) < 64 * MiB + SLACK


@pytest.mark.parametrize("kind", KINDS)
def test_a_huge_error_answer_is_read_only_in_part(server: Hostile, kind: str) -> None:
    @server.on("GET", "/api/v3/1/categories/1")
    def failing(exchange: Exchange) -> None:
        exchange.handler.send_response(500)
        exchange.handler.end_headers()
        exchange.stream(endless_json(b"\x1b[2Jgone wrong: "))

    with pytest.raises(ServerError) as caught:
        first(server, kind, retries=Retries(attempts=1))
    assert caught.value.status == 500
    assert caught.value.message.startswith("[2Jgone wrong: xxx")
    assert len(caught.value.message) < 1000
    assert settled(server) < SLACK


def endless_pages(server: Hostile, total: Callable[[int], int], fresh: bool = True) -> None:
    """Full pages of store 1 claiming ``total(offset)`` categories; new ids on
    each page (or the same page again); an empty page after 300, so that a
    client that never stops is still caught by the test."""

    @server.on("GET", "/api/v3/1/categories")
    def pages(exchange: Exchange) -> None:
        offset, limit = int(exchange.query["offset"]), int(exchange.query["limit"])
        start = offset if fresh else 0
        count = limit if offset < 300 * limit else 0
        items = [category(start + n + 1, f"C{start + n}") for n in range(count)]
        exchange.json(
            {"total": total(offset), "count": count, "offset": offset, "limit": limit,
             "items": items}
        )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_a_total_of_a_trillion_is_refused_on_the_first_page(server: Hostile, kind: str) -> None:
    endless_pages(server, lambda offset: 10**12)
    with pytest.raises(BadResponse, match="max_items") as caught:
        names(server, kind)
    assert caught.value.status == 200
    assert len(server.paths("/api/v3/1/categories")) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_total_that_keeps_growing_ends_the_paging(server: Hostile, kind: str) -> None:
    endless_pages(server, lambda offset: offset + 250)  # always two and a half pages to go
    with pytest.raises(BadResponse, match="keeps growing"):
        names(server, kind)
    assert len(server.paths("/api/v3/1/categories")) == 5  # 3 pages announced, 2 to spare


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_sent_again_ends_the_paging(server: Hostile, kind: str) -> None:
    endless_pages(server, lambda offset: 1000, fresh=False)
    with pytest.raises(BadResponse, match="again"):
        names(server, kind)
    assert len(server.paths("/api/v3/1/categories")) == 2


def test_mirror_refuses_endless_paging(server: Hostile, tmp_path: Path) -> None:
    endless_pages(server, lambda offset: 10**12)
    with pytest.raises(SystemExit) as stopped:
        main(mirror_args(server, "--state", str(tmp_path / "m.json")))
    assert "max_items" in str(stopped.value.code)
    assert len(server.paths("/api/v3/1/categories")) == 1


def trickle(exchange: Exchange) -> None:
    """A valid answer, one byte every 0.3 s, headers and all."""
    body = b'{"id": 1, "name": "slow"}'
    head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    exchange.stream([bytes([b]) for b in head + body], pause=0.3)


def trickled_body(exchange: Exchange) -> None:
    exchange.headers_then([bytes([b]) for b in b'{"id": 1, "name": "slow"}'], pause=0.3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("route", [trickle, trickled_body])
def test_a_trickling_answer_is_cut_off_at_the_deadline(
    server: Hostile, kind: str, route: Route
) -> None:
    server.on("GET", "/api/v3/1/categories/1")(route)
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException, match="total_timeout"):
        first(server, kind, total_timeout=1.0, retries=Retries(attempts=3, base=0.01))
    assert 0.9 < time.monotonic() - started < 2.5  # retries included
    assert server.seen


@pytest.mark.parametrize("kind", KINDS)
def test_an_upload_to_a_server_that_stops_reading_is_cut_off(server: Hostile, kind: str) -> None:
    @server.on("POST", "/api/v3/1/categories/1/image")
    def deaf(exchange: Exchange) -> None:
        time.sleep(4)  # reads nothing: the client's writes block once the buffers are full

    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException, match="total_timeout"):
        upload(server, kind, bytes(64 * MiB), total_timeout=1.0, retries=Retries(attempts=1))
    assert time.monotonic() - started < 2.5


def test_upload_gives_up_on_a_trickling_server(server: Hostile, tmp_path: Path) -> None:
    server.on("GET", "/api/v3/2/categories")(trickle)
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "1.jpg").write_bytes(phone_photo())
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        main(upload_args(server, folder, "--timeout", "1"))
    assert "took longer than its total_timeout (1 s)" in str(stopped.value.code)
    assert time.monotonic() - started < 5


MALFORMED = [
    (b"<html>\x1b[2Jnot json</html>", "not valid JSON", "<html>[2Jnot json</html>"),
    (b'{"id": "one", "name": 5}', "Expected `int`, got `str` - at `$.id`", '{"id": "one"'),
    (b'{"name": "no id"}', "missing required field `id`", '{"name": "no id"}'),
    (b"[1, 2, 3]", "Expected `object`, got `array`", "[1, 2, 3]"),
    (b"", "not valid JSON", ""),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("body", "why", "start"), MALFORMED)
def test_a_malformed_answer_is_a_bad_response(
    server: Hostile, kind: str, body: bytes, why: str, start: str
) -> None:
    server.on("GET", "/api/v3/1/categories/1")(lambda e: e.answer(200, body))
    with pytest.raises(BadResponse) as caught:
        first(server, kind)
    assert caught.value.status == 200
    assert why in str(caught.value)
    assert caught.value.excerpt.startswith(start)
    assert_inert(str(caught.value))


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_without_its_fields_is_a_bad_response(server: Hostile, kind: str) -> None:
    server.on("GET", "/api/v3/1/categories")(lambda e: e.json({"items": [{"id": 1}]}))
    with pytest.raises(BadResponse, match="missing required field `total`"):
        names(server, kind)


def test_mirror_reports_a_malformed_listing_in_one_line(server: Hostile, tmp_path: Path) -> None:
    server.on("GET", "/api/v3/1/categories")(lambda e: e.answer(200, b"\x1b]52;c;aGk=\x07{oops"))
    with pytest.raises(SystemExit) as stopped:
        main(mirror_args(server, "--state", str(tmp_path / "m.json")))
    message = str(stopped.value.code)
    assert message.startswith("vitrina mirror: 200: The answer is not valid JSON")
    assert_inert(message)


def test_upload_reports_a_mistyped_answer_per_file(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.store(2, [category(1, "Toys"), category(2, "Kites")])

    @server.on("POST", "/api/v3/2/categories/1/image")
    def mistyped(exchange: Exchange) -> None:
        exchange.body()
        exchange.json({"id": "seventy-seven"})

    @server.on("POST", "/api/v3/2/categories/2/image")
    def accept(exchange: Exchange) -> None:
        exchange.body()
        exchange.json({"id": 78})

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "1.jpg").write_bytes(phone_photo())
    (folder / "2.jpg").write_bytes(phone_photo())
    code = main(upload_args(server, folder, "--json"))
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    files = {f["file"]: f for f in report["files"]}
    assert files["2.jpg"]["status"] == "uploaded" and files["2.jpg"]["image"] == 78
    assert files["1.jpg"]["status"] == "failed"
    assert "Expected `int`, got `str` - at `$.id`" in files["1.jpg"]["reason"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_to_an_api_call_is_a_bad_response(server: Hostile, kind: str) -> None:
    elsewhere = f"{server.base}/elsewhere/\x1b[2J"

    @server.on("GET", "/api/v3/1/categories/1")
    def moved(exchange: Exchange) -> None:
        exchange.answer(302, b"", {"Location": elsewhere})

    with pytest.raises(BadResponse, match="redirect") as caught:
        first(server, kind)
    assert caught.value.status == 302
    assert f"{server.base}/elsewhere/[2J" in str(caught.value)
    assert server.paths() == ["/api/v3/1/categories/1"]  # not followed, not retried


def test_a_redirected_post_is_not_followed_nor_sent_again(server: Hostile) -> None:
    server.on("POST", "/api/v3/1/categories")(
        lambda e: e.answer(307, b"", {"Location": server.base + "/other"})
    )
    with Client(1, "t", server.base + "/api/v3") as api, pytest.raises(BadResponse) as caught:
        api.categories.create({"name": "Toys"})
    assert caught.value.status == 307
    assert server.paths() == ["/api/v3/1/categories"]


def test_mirror_reports_a_redirected_api_in_one_line(server: Hostile, tmp_path: Path) -> None:
    server.on("GET", "/api/v3/1/categories")(
        lambda e: e.answer(301, b"", {"Location": "http://127.0.0.2:9/api/v3/1/categories"})
    )
    with pytest.raises(SystemExit) as stopped:
        main(mirror_args(server, "--state", str(tmp_path / "m.json")))
    assert str(stopped.value.code).startswith("vitrina mirror: 301: The server answered 301")


def test_bad_response_is_part_of_the_curated_surface() -> None:
    import vitrina.client

    assert "BadResponse" in vitrina.client.__all__
    assert issubclass(vitrina.client.BadResponse, vitrina.client.ApiError)


@pytest.mark.parametrize("kind", KINDS)
def test_the_proxy_of_the_environment_is_used_as_httpx_uses_it(
    server: Hostile, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("GET", "/api/v3/1/categories/1")(lambda e: e.json(category(1, "Proxied")))
    monkeypatch.setenv("HTTP_PROXY", server.base)  # the hostile server proxies, and answers
    nowhere = Hostile(base="http://127.0.0.2:9")  # loopback, where nothing listens
    assert first(nowhere, kind) == "Proxied"
    assert server.seen == [("GET", "/api/v3/1/categories/1")]
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert first(server, kind) == "Proxied"  # directly


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_after_beyond_the_deadline_is_not_waited_for(server: Hostile, kind: str) -> None:
    @server.on("GET", "/api/v3/1/categories/1")
    def busy(exchange: Exchange) -> None:
        exchange.answer(429, b'{"errorMessage": "later", "errorCode": "RATE_LIMITED"}',
                        {"Retry-After": "100"})  # fmt: skip

    started = time.monotonic()
    with pytest.raises(RateLimited):
        first(server, kind, total_timeout=5.0)
    assert time.monotonic() - started < 2
    assert len(server.seen) == 1


# -- 8. source images: size, time and address ----------------------------------------------


def mirror_target(server: Hostile) -> None:
    """Store 2 of the hostile server as a target that takes new categories."""
    server.store(2, [])
    made = iter(range(500, 600))

    @server.on("POST", "/api/v3/2/categories")
    def create(exchange: Exchange) -> None:
        exchange.body()
        exchange.json({"id": next(made)})


def mirror_json(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str], *more: str
) -> tuple[int, dict[str, dict[str, Any]]]:
    """`vitrina mirror --json` from store 1 to store 2; (exit code, steps by action)."""
    code = main(mirror_args(server, "--state", str(tmp_path / "m.json"), "--json", *more))
    steps = json.loads(capsys.readouterr().out)["steps"]
    return code, {s["action"]: s for s in steps}


def test_an_image_on_this_machine_is_refused_without_connecting(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "/latest/meta-data/"  # a "metadata service" on loopback
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + path)])
    mirror_target(server)
    code, steps = mirror_json(server, tmp_path, capsys)
    assert code == 1
    assert steps["create"]["status"] == "done"
    assert steps["image"]["status"] == "failed"
    assert "does not point to a public internet address" in steps["image"]["reason"]
    assert "--allow-private-sources" in steps["image"]["reason"]
    assert server.paths(path) == []  # decided before any connection
    assert not any("/image" in p for p in server.paths("/api/v3/2"))


@pytest.mark.parametrize(
    "flags",
    [["--allow-private-sources"], ["--allow-source-network", "127.0.0.0/8"]],
    ids=["private-sources", "network"],
)
def test_an_image_on_this_machine_is_copied_when_allowed(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    server.on("GET", "/images/photo.jpg")(
        lambda e: e.answer(200, phone_photo(), {"Content-Type": "image/jpeg"})
    )
    server.on("GET", "/moved")(
        lambda e: e.answer(302, b"", {"Location": server.base + "/images/photo.jpg"})
    )
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/moved")])
    with live_vitrina(tmp_path / "target") as target:
        code = main(
            [
                "mirror", "--from-url", server.base, "--from-store", "1", "--from-token", "t",
                "--to-url", target.base, "--to-store", str(target.store), "--to-token",
                target.token, "--state", str(tmp_path / "m.json"), "--json", *flags,
            ]
        )  # fmt: skip
        steps = json.loads(capsys.readouterr().out)["steps"]
        with Client(target.store, target.token, target.api) as api:
            [copied] = api.categories.by_path("Toys")
    assert code == 0, steps
    assert server.paths("/images/photo.jpg") == ["/images/photo.jpg"]
    assert isinstance(copied.originalImage, Size)
    assert (copied.originalImage.width, copied.originalImage.height) == (3024, 4032)


def test_an_allow_list_opens_only_its_networks(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/latest/meta-data/")])
    mirror_target(server)
    code, steps = mirror_json(server, tmp_path, capsys, "--allow-source-network", "10.0.0.0/8")
    assert code == 1
    assert "public internet address" in steps["image"]["reason"]
    assert server.paths("/latest") == []


def test_a_redirect_is_judged_again(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = server.base.rsplit(":", 1)[1]
    elsewhere = f"http://127.0.0.2:{port}/secret"  # loopback, but outside the allowed network
    server.on("GET", "/moved")(lambda e: e.answer(302, b"", {"Location": elsewhere}))
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/moved")])
    mirror_target(server)
    code, steps = mirror_json(server, tmp_path, capsys, "--allow-source-network", "127.0.0.1/32")
    assert code == 1
    assert "Redirected to a URL that is not allowed" in steps["image"]["reason"]
    assert server.paths("/moved") == ["/moved"]


# No names here: the command resolves with the system's resolver, and tests look up nothing.
@pytest.mark.parametrize("location", ["\x1b[2J", "http://[::1", "http://127.0.0.1:x/"])
def test_a_malformed_redirect_fails_its_step_only(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str], location: str
) -> None:
    server.on("GET", "/moved")(lambda e: e.answer(302, b"", {"Location": location}))
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/moved")])
    mirror_target(server)
    code, steps = mirror_json(server, tmp_path, capsys, "--allow-private-sources")
    assert code == 1
    assert steps["image"]["status"] == "failed"
    assert "malformed" in steps["image"]["reason"]


def test_an_endless_image_stops_at_the_default_cap(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", "/endless.jpg")(lambda e: e.headers_then(endless_json(b"\xff\xd8\xff")))
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/endless.jpg")])
    mirror_target(server)
    code, steps = mirror_json(server, tmp_path, capsys, "--allow-private-sources")
    assert code == 1
    assert "larger than the limit of 20971520 bytes" in steps["image"]["reason"]
    assert settled(server) < 20 * MiB + SLACK
    assert not any("/image" in p for p in server.paths("/api/v3/2"))
    assert list(tmp_path.glob("vitrina-mirror-*")) == []  # the temporary folder is gone


def test_the_image_cap_is_an_option(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", "/photo.jpg")(lambda e: e.answer(200, phone_photo()))
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/photo.jpg")])
    mirror_target(server)
    small = str(len(phone_photo()) - 1)
    code, steps = mirror_json(
        server, tmp_path, capsys, "--allow-private-sources", "--max-image-bytes", small
    )
    assert code == 1
    assert f"larger than the limit of {small} bytes" in steps["image"]["reason"]


def test_a_trickling_image_stops_at_the_download_deadline(
    server: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.on("GET", "/slow.jpg")(
        lambda e: e.headers_then([bytes([b]) for b in phone_photo()[:100]], pause=0.3)
    )
    server.store(1, [category(1, "Toys", originalImageUrl=server.base + "/slow.jpg")])
    mirror_target(server)
    started = time.monotonic()
    code, steps = mirror_json(
        server, tmp_path, capsys, "--allow-private-sources", "--download-timeout", "1"
    )
    assert code == 1
    assert "took longer than 1 seconds" in steps["image"]["reason"]
    assert time.monotonic() - started < 4


# Judged without connecting: IP literals are refused before any look-up, names
# by what the injected resolver answers (it is the only one asked).
NOT_PUBLIC = [
    "http://10.0.0.1/a.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.43518/latest/",
    "http://192.168.1.1:8080/a.jpg",
    "https://100.64.0.1/a.jpg",
    "http://[::1]/a.jpg",
    "http://[fe80::1]/a.jpg",
    "http://[fd00::1]/a.jpg",
    "http://[::ffff:169.254.169.254]/a.jpg",
    "http://[64:ff9b::a9fe:a9fe]/a.jpg",
    "http://0x7f.1/a.jpg",
    "http://2130706433/a.jpg",
    "http://0/a.jpg",
    "http://metadata.test/computeMetadata/v1/",
    "http://mixed.test/a.jpg",
]
ANSWERS = {
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "10.1.2.3"],  # one private answer is enough
    "public.test": ["93.184.216.34", "2606:2800:220:1::248"],
}


def resolver(asked: list[str]) -> Callable[[str, int], list[IPAddress]]:
    def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address(a) for a in ANSWERS[host]]

    return resolve


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_non_public_sources_are_refused_by_judgement_alone(url: str) -> None:
    asked: list[str] = []
    sources = SourceImages(SourcePolicy(resolver=resolver(asked)))
    with pytest.raises(DownloadRefused, match="does not point to a public internet address"):
        sources.judge(url)
    assert asked == ([urlsplit(url).hostname] if urlsplit(url).hostname in ANSWERS else [])


def test_public_sources_and_allowed_networks_pass_judgement() -> None:
    asked: list[str] = []
    everything = SourceImages(SourcePolicy(resolver=resolver(asked), allowed_networks=ANYWHERE))
    for url in NOT_PUBLIC:
        everything.judge(url)
    ten = SourceImages(
        SourcePolicy(
            resolver=resolver(asked), allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),)
        )
    )
    assert str(ten.judge("http://10.9.8.7:9000/a.jpg")) == "10.9.8.7"
    assert str(ten.judge("https://public.test/a.jpg")) == "93.184.216.34"
    with pytest.raises(DownloadRefused):
        ten.judge("http://169.254.169.254/")
    with pytest.raises(DownloadRefused, match="https:// or http://"):
        ten.judge("file:///etc/passwd")
    with pytest.raises(DownloadRefused, match="user name or password"):
        ten.judge("https://user:secret@public.test/a.jpg")


def test_the_connection_goes_to_the_address_that_was_judged(
    server: Hostile, tmp_path: Path
) -> None:
    server.on("GET", "/images/photo.jpg")(lambda e: e.answer(200, phone_photo()))
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address(next(answers))]

    loopback = (ipaddress.ip_network("127.0.0.1/32"),)
    sources = SourceImages(SourcePolicy(resolver=rebinding, allowed_networks=loopback))
    port = server.base.rsplit(":", 1)[1]
    digest = sources.fetch(f"http://images.test:{port}/images/photo.jpg", tmp_path / "photo")
    assert asked == ["images.test"]  # resolved once; the connection went to the judged address
    assert (tmp_path / "photo").read_bytes() == phone_photo()
    assert digest == hashlib.sha256(phone_photo()).hexdigest()
