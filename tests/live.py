"""An app served by uvicorn in a thread on a free loopback port, for clients
that need real HTTP (schemathesis, a browser) without a second process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from tests.processes import free_port, wait_until


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
