"""An httpcore network backend that connects only to the address that was
checked, and never lets a read or write run past the download's deadline.

A download has one deadline; a kept-alive connection (webhooks) is given a
``Deadline`` whose time its owner sets again before each request."""

from __future__ import annotations

import ssl
import time
import typing
from typing import Any

import httpcore
from httpcore._backends.sync import SyncBackend


class Deadline:
    """When the current request's time is up (``time.monotonic()``)."""

    def __init__(self, at: float) -> None:
        self.at = at


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the download's time is up")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Whatever host httpcore asks for, connect to ``address``. TLS is started
    by httpcore with the URL's host name, so certificates are checked for it."""

    def __init__(self, address: str, deadline: float | Deadline) -> None:
        self._address = address
        self._deadline = deadline if isinstance(deadline, Deadline) else Deadline(deadline)
        self._backend = SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline.at - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the download's time is up")
        timeout = left if timeout is None else min(timeout, left)
        stream = self._backend.connect_tcp(
            self._address, port, timeout, local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
