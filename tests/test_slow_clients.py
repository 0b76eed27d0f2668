"""Slow clients (slowloris) cannot hold a connection: `vitrina serve` closes
one whose headers or body do not arrive in time, and answers everyone else.
Real server process, loopback only, bounded in time."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import Server, vitrina_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("slow") / "data"
    env = {"VITRINA_HEADER_TIMEOUT": "1", "VITRINA_BODY_TIMEOUT": "2"}
    with vitrina_serve(data, env=env) as running:
        yield running


def _connect(server: Server) -> socket.socket:
    port = int(server.base.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _closed_within(conn: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Send ``trickle`` a byte every 0.2 s (or nothing) until the server closes
    the connection; how long that took (the test fails past ``seconds``)."""
    started = time.monotonic()
    conn.settimeout(0.2)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if conn.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if sent < len(trickle):
            try:
                conn.sendall(trickle[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            sent += 1
    raise AssertionError(f"the connection was still open after {seconds} s")


def test_an_idle_connection_is_closed(server: Server) -> None:
    with _connect(server) as conn:
        assert _closed_within(conn, 8) >= 0.9


def test_headers_sent_a_byte_at_a_time_are_cut_off(server: Server) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    with _connect(server) as conn:
        # 230 bytes at 5 a second would take 46 s: closed after the header
        # deadline (1 s), not before it, and not when they were all sent
        assert _closed_within(conn, 8, trickle=request) >= 0.9


def test_a_trickled_chunked_body_is_cut_off(server: Server) -> None:
    token = server.token()
    head = (
        "POST /api/v3/1/categories/1/image HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with _connect(server) as conn:
        conn.sendall(head)
        assert _closed_within(conn, 10, trickle=b"1\r\nx\r\n" * 200) >= 1.5


def test_others_are_answered_meanwhile_and_after(server: Server) -> None:
    with _connect(server) as idle:
        assert httpx.get(server.base + "/healthz", timeout=5).status_code == 200
        _closed_within(idle, 8)
    assert httpx.get(server.base + "/healthz", timeout=5).status_code == 200
    assert "Traceback" not in server.output()


def test_a_slow_but_steady_upload_within_the_deadline_succeeds(
    server: Server, tmp_path: Path
) -> None:
    from tests import sample_images as images

    token = server.token()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=10) as client:
        category = client.post("/api/v3/1/categories", json={"name": "Slow"}).json()["id"]
        body = images.jpeg(400, 300)

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), len(body) // 4 + 1):
                time.sleep(0.2)
                yield body[start : start + len(body) // 4 + 1]

        response = client.post(f"/api/v3/1/categories/{category}/image", content=chunks())
        assert response.status_code == 200, response.text
