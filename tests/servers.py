"""A local HTTPS image server for download tests: loopback only, a trustme
certificate, and a record of every request it received."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import trustme

from tests import sample_images as images


@dataclass
class ImageServer:
    port: int
    ca_file: Path
    requests: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"

    def url(self, path: str, host: str = "images.test") -> str:
        return f"https://{host}:{self.port}{path}"


def _handler(server_state: ImageServer, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(
            self, status: int, data: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            server_state.requests.append(self.path)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/image.jpg":
                self._send(200, body, {"Content-Type": "image/jpeg"})
            elif parts.path == "/redirect":
                self._send(302, headers={"Location": query["to"][0]})
            elif parts.path == "/loop":
                self._send(302, headers={"Location": "/loop"})
            elif parts.path.startswith("/status/"):
                self._send(int(parts.path.rsplit("/", 1)[1]), b"nope")
            elif parts.path in ("/big", "/big-declared"):
                self.send_response(200)
                if parts.path == "/big-declared":
                    self.send_header("Content-Length", str(40 * 65536))
                self.end_headers()  # without a length, the body runs until the connection closes
                try:
                    for _ in range(40):
                        self.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
            elif parts.path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(100):
                        self.wfile.write(b"\xff")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass
            elif parts.path == "/hang":
                time.sleep(3)
                self._send(200, body)
            elif parts.path == "/text":
                self._send(200, b"<html>not an image</html>", {"Content-Type": "text/html"})
            else:
                self._send(404, b"not found")

    return Handler


@contextmanager
def image_server(tmp_path: Path, body: bytes | None = None) -> Iterator[ImageServer]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    certificate = authority.issue_cert("images.test", "127.0.0.1", "localhost")
    ca_file = tmp_path / "test-ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = ImageServer(port=httpd.server_address[1], ca_file=ca_file)
    httpd.RequestHandlerClass = _handler(state, body or images.jpeg(640, 480))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
