"""The HTTP connection, with deadlines uvicorn does not have.

uvicorn's keep-alive timeout covers only the time between requests, and is
reset by every byte received: a client that sends its headers one byte a
second, opens a connection and says nothing, or trickles a body, holds a
connection for ever (slowloris). ``DeadlineProtocol`` closes a connection
whose request headers have not all arrived ``header_timeout`` seconds after
the connection opened or the request began, or whose body has not all
arrived ``body_timeout`` seconds after its headers. A request being
answered is never cut: the deadlines stop once the request is in. Deadlines
are checked ten times per the shorter timeout, at most once a second, so a
connection is closed at most that late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vitrina.settings import Settings

log = logging.getLogger("vitrina.web")


class _Sweep:
    """The deadlines of one server's connections, checked a few times a
    second by one timer: arming a deadline is then one assignment, where a
    timer per request phase cost about 4 us of CPU per request."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float) -> None:
        self.loop = loop
        self.every = every
        self.connections: set[DeadlineProtocol] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: DeadlineProtocol) -> None:
        self.connections.add(connection)
        if self._timer is None:
            self._timer = self.loop.call_later(self.every, self._run)

    def _run(self) -> None:
        now = self.loop.time()
        for connection in [c for c in self.connections if c.due is not None and c.due <= now]:
            connection.expire()
        self._timer = self.loop.call_later(self.every, self._run) if self.connections else None


class DeadlineProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 120.0
    due: float | None = None  # loop time by which the awaited part must have arrived
    _awaited: tuple[str, float] = ("", 0.0)  # what must arrive, and its timeout
    _sweeps: weakref.WeakKeyDictionary[object, _Sweep] = weakref.WeakKeyDictionary()

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.header_timeout = settings.header_timeout
        cls.body_timeout = settings.body_timeout

    def _arm(self, seconds: float, what: str) -> None:
        self.due, self._awaited = self.loop.time() + seconds, (what, seconds)

    def expire(self) -> None:
        (what, seconds), self.due = self._awaited, None
        if not self.transport.is_closing():
            log.info("closed a connection whose %s did not arrive within %gs", what, seconds)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows the type the same way
        super().connection_made(transport)
        sweep = self._sweeps.get(self.server_state)
        if sweep is None:  # one per server (its connections share server_state)
            every = min(1.0, max(0.05, min(self.header_timeout, self.body_timeout) / 10))
            sweep = self._sweeps[self.server_state] = _Sweep(self.loop, every)
        self._sweep = sweep
        sweep.add(self)
        self._arm(self.header_timeout, "request headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self.due = None
        self._sweep.connections.discard(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "request headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self.due = None
        super().on_message_complete()


def serve_workers(settings: Settings) -> int:
    """Run ``settings.workers`` server processes, and the async-upload and
    batch workers once, here. uvicorn starts the processes from an import
    string, so they read their settings from the environment: what the
    command line chose (data folder, database, address, processes) is put
    there for them."""
    import os

    import uvicorn

    from vitrina.bootstrap import build_services
    from vitrina.usecases.upload_jobs import JobWorker
    from vitrina.web.batch_calls import standalone

    for name, value in (
        ("VITRINA_DATA_DIR", str(settings.data_dir)),
        ("VITRINA_HOST", settings.host),
        ("VITRINA_PORT", str(settings.port)),
        ("VITRINA_WORKERS", str(settings.workers)),
        ("VITRINA_DATABASE_URL", settings.database_url),
        ("VITRINA_RUN_JOBS", "false"),  # the server processes; the workers run here
    ):
        os.environ[name] = value
    with build_services(settings) as services, contextlib.ExitStack() as stack:
        if settings.run_jobs:
            stack.enter_context(standalone(services))  # batch tickets
        worker = JobWorker(services) if settings.run_jobs else None
        if worker:
            worker.start()
        try:
            uvicorn.run(
                "vitrina.web.app:factory",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                log_level=settings.log_level,
                log_config=None,  # each process sets up vitrina.logs (web.app.factory)
                access_log=False,
                http=DeadlineProtocol,
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            )
        finally:
            if worker:
                worker.stop(settings.shutdown_grace_seconds)
    return 0


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which on SIGTERM or SIGINT first reports not-ready
    (``on_drain``: /readyz answers 503) and keeps serving for
    ``drain_seconds``, so a load balancer stops sending; then shuts down as
    uvicorn does: no new connections, requests in flight finish within the
    grace period; and a SIGTERM shutdown that finished exits 0."""

    def __init__(
        self, config: uvicorn.Config, drain_seconds: float, on_drain: Callable[[], None]
    ) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.on_drain = on_drain
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.on_drain()
        if self._draining or self.drain_seconds <= 0:
            self._stop(sig, frame)
            return
        self._draining = True
        log.info("draining for %s s before shutting down", self.drain_seconds)
        timer = threading.Timer(self.drain_seconds, self._stop, (sig, frame))
        timer.daemon = True
        timer.start()

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn raises a captured signal again once it has shut down, which
        # makes the exit status "killed by SIGTERM"; a shutdown asked for
        # with SIGTERM that finished its work is a success: exit 0.
        while signal.SIGTERM in self._captured_signals:
            self._captured_signals.remove(signal.SIGTERM)
