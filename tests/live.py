"""An app served by uvicorn in a thread on a free loopback port, for clients
that need real HTTP (schemathesis, a browser) without a second process; and a
download guard for it that connects nowhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from tests.processes import free_port, wait_until
from vitrina.backends.fetching.addresses import IPAddress
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, fetch_policy
from vitrina.domain.errors import DownloadFailed
from vitrina.domain.values import SCOPES
from vitrina.settings import Settings
from vitrina.usecases.tokens import console_link, create_signin_code, create_token
from vitrina.web.app import create_app


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


@dataclass
class Live:
    """A vitrina on loopback with one store and a token with every scope."""

    base: str
    services: Services
    store: int
    token: str

    @property
    def api(self) -> str:
        return self.base + "/api/v3"

    def signin_link(self) -> str:
        """A single-use console sign-in link to the store, every scope."""
        code = create_signin_code(self.services.metadata, self.store, frozenset(SCOPES), 600)
        return console_link(self.base, self.store, code)

    def requests(self, path: str = "") -> list[dict[str, Any]]:
        """The store's request log, newest first (filtered by ``path``)."""
        answer = httpx.get(
            f"{self.api}/{self.store}/_requests",
            params={"limit": 1000, "path": path},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@contextmanager
def live_vitrina(
    data_dir: Path, port: int | None = None, store_name: str = "Shop", **settings: Any
) -> Iterator[Live]:
    """A migrated vitrina with the given settings, served in a thread."""
    from tests.conftest import migrated

    port = port or free_port()
    chosen: dict[str, Any] = {"run_jobs": False, "rate_limit_per_minute": 0, **settings}
    config = Settings(data_dir=data_dir, port=port, **chosen)
    services = migrated(config)
    services.fetcher = LoopbackOnly(fetch_policy(config, resolver=no_lookups))
    store = services.metadata.stores.create_store(store_name, "https://shop.example.com")
    token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
    try:
        with serving(create_app(config, services), port) as base:
            yield Live(base, services, store.id, token)
    finally:
        services.close()
