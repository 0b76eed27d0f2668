"""A webhook receiver on loopback for the delivery tests: a threaded HTTP/1.1
server (connections kept alive) that records every POST as it arrived and
answers as its path says:

- ``/ok`` (or any other path): 200;
- ``/status/N``: status N;
- ``/sleep/S``: 200 after S seconds;
- ``/redirect``: 302 to ``/ok`` of the same server (which counts a GET if
  anyone followed it);
- ``/flaky/N``: 500 to the first N arrivals of each eventId, then 200.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.processes import wait_until


@dataclass
class Arrival:
    path: str
    headers: list[tuple[str, str]]  # in the order received
    body: bytes
    client_port: int
    started: float  # time.monotonic(): the request was read
    ended: float = 0.0  # the answer was written
    status: int = 0

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")


@dataclass
class Receiver:
    port: int
    arrivals: list[Arrival] = field(default_factory=list)
    followed: list[str] = field(default_factory=list)  # GETs: a redirect followed
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: Counter[str] = field(default_factory=Counter)  # arrivals per eventId

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str | None = None) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if path is None or a.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> list[Arrival]:
        assert wait_until(lambda: len(self.received(path)) >= count, timeout), (
            f"{len(self.received(path))} of {count} webhooks arrived"
        )
        return self.received(path)


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"", location: str = "") -> None:
            lines = [f"HTTP/1.1 {status} Answer", f"Content-Length: {len(body)}"]
            if location:
                lines.append(f"Location: {location}")
            head = "\r\n".join(lines).encode() + b"\r\n\r\n"
            self.wfile.write(head + body)  # one write: no wait on a delayed ACK
            self.wfile.flush()

        def do_GET(self) -> None:
            with state.lock:
                state.followed.append(self.path)
            self._answer(200, b"followed")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrival = Arrival(
                path=self.path,
                headers=list(self.headers.items()),
                body=body,
                client_port=self.client_address[1],
                started=time.monotonic(),
            )
            with state.lock:
                state.arrivals.append(arrival)
                try:
                    event_id = json.loads(body)["eventId"]
                except (ValueError, KeyError, TypeError):
                    event_id = ""
                state.seen[event_id] += 1
                seen = state.seen[event_id]
            parts = self.path.strip("/").split("/")
            status, location = 200, ""
            if parts[0] == "status":
                status = int(parts[1])
            elif parts[0] == "sleep":
                time.sleep(float(parts[1]))
            elif parts[0] == "redirect":
                status, location = 302, state.url("/ok")
            elif parts[0] == "flaky" and seen <= int(parts[1]):
                status = 500
            arrival.status = status
            with contextlib.suppress(OSError):  # the sender gave up waiting
                self._answer(status, f"answer {status}".encode(), location)
            arrival.ended = time.monotonic()

    return Handler


@contextmanager
def receiver() -> Iterator[Receiver]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    state = Receiver(port=httpd.server_address[1])
    httpd.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=httpd.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
