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
