"""An app served by uvicorn in a thread on a free loopback port, for clients
that need real HTTP (schemathesis, a browser) without a second process; and a
download guard for it that connects nowhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from tests.processes import free_port, wait_until
from vitrina.errors import DownloadFailed
from vitrina.fetching.addresses import IPAddress
from vitrina.fetching.guarded import GuardedFetcher


class LoopbackOnly(GuardedFetcher):
    """The real guard (scheme, port and address rules), which then never
    connects: URLs that tests send must not reach off this machine, and no
    name is looked up."""

    def resolve(self, host: str, port: int) -> IPAddress:
        address = super().resolve(host, port)
        raise DownloadFailed(f"Tests connect to no address ({address} was allowed)")


def no_lookups(host: str, port: int) -> list[IPAddress]:
    raise OSError("tests look up no names")


@contextmanager
def serving(app: Starlette, port: int | None = None) -> Iterator[str]:
    """The base URL of ``app`` while the block runs (on ``port``, or a free one)."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, name="vitrina-test-server", daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, timeout=30), "the test server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
