"""The client, `vitrina upload` and `vitrina mirror` against a server that
misbehaves: names and messages that are terminal escapes or Rich markup,
answers that are huge, endless, trickled, malformed or redirected, pages
without end, and image URLs aimed at this machine. The server is a small
HTTP server on 127.0.0.1 started by each test; it records every request and
counts the body bytes it sent. No test sends a packet off loopback."""

from __future__ import annotations

import functools
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

import pytest

from tests import images
from vitrina.cli import main

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
    sent: int = 0
    base: str = ""

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
            if route is None:
                exchange.error(404, "Not found", "NOT_FOUND")
            else:
                route(exchange)

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
