"""The HTTP connection, with deadlines uvicorn does not have.

uvicorn's keep-alive timeout covers only the time between requests, and is
reset by every byte received: a client that sends its headers one byte a
second, opens a connection and says nothing, or trickles a body, holds a
connection for ever (slowloris). ``DeadlineProtocol`` closes a connection
whose request headers have not all arrived ``header_timeout`` seconds after
the connection opened or the request began, or whose body has not all
arrived ``body_timeout`` seconds after its headers. A request being
answered is never cut: the deadlines stop once the request is in.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vitrina.settings import Settings

log = logging.getLogger("vitrina.web")


class DeadlineProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 120.0
    _deadline: asyncio.TimerHandle | None = None

    @classmethod
    def configure(cls, settings: Settings) -> None:
        cls.header_timeout = settings.header_timeout
        cls.body_timeout = settings.body_timeout

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str, seconds: float) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("closed a connection whose %s did not arrive within %gs", what, seconds)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows the type the same way
        super().connection_made(transport)
        self._arm(self.header_timeout, "request headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "request headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def serve_workers(settings: Settings) -> int:
    """Run ``settings.workers`` server processes, and the async-upload worker
    once, here. uvicorn starts the processes from an import string, so they
    read their settings from the environment: what the command line chose
    (data folder, database, address, processes) is put there for them."""
    import os

    import uvicorn

    from vitrina.bootstrap import build_services
    from vitrina.jobs import JobWorker

    for name, value in (
        ("VITRINA_DATA_DIR", str(settings.data_dir)),
        ("VITRINA_HOST", settings.host),
        ("VITRINA_PORT", str(settings.port)),
        ("VITRINA_WORKERS", str(settings.workers)),
        ("VITRINA_DATABASE_URL", settings.database_url),
        ("VITRINA_RUN_JOBS", "false"),  # the server processes; the job worker runs here
    ):
        os.environ[name] = value
    with build_services(settings) as services:
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
            )
        finally:
            if worker:
                worker.stop()
    return 0
