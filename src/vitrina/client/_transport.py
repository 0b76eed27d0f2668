"""The synchronous client's connections: httpcore's pool, whose every
connect, read and write stops at the deadline of the call it serves.

httpx's timeouts count per read, so an answer that trickles one byte at a
time (its headers too) never trips them. A call sets its Deadline with
``deadline(...)``; the network streams read it from a context variable, so
one pool serves calls from many threads, each under its own deadline. (The
asynchronous client puts each call under ``anyio.fail_after`` instead.)
Errors come out as httpx's, as from httpx's own transport; an http(s) proxy
is taken from the environment as httpx takes it.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
import typing
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from vitrina.domain import redaction

E = TypeVar("E", bound=Exception)
log = logging.getLogger("vitrina.client")


@dataclass(frozen=True)
class Deadline:
    """When a call must be over, and the total_timeout it came from."""

    end: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self, kind: type[E]) -> E:
        return kind(f"the call took longer than its total_timeout ({self.seconds:g} s)")


_CURRENT: ContextVar[Deadline | None] = ContextVar("vitrina_client_deadline", default=None)


@contextlib.contextmanager
def deadline(current: Deadline) -> Iterator[None]:
    """Every connect, read and write of this context stops at ``current``."""
    token = _CURRENT.set(current)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def _within(timeout: float | None, kind: type[Exception]) -> Iterator[float | None]:
    """The timeout for one socket operation, cut to the deadline's time left;
    when the deadline is what stops it, the error says so."""
    current = _CURRENT.get()
    if current is None:
        yield timeout
        return
    left = current.left()
    if left <= 0:
        raise current.passed(kind)
    try:
        yield left if timeout is None else min(timeout, left)
    except httpcore.TimeoutException:
        if timeout is None or left < timeout:
            raise current.passed(kind) from None
        raise


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _within(timeout, httpcore.ReadTimeout) as bounded:
            return self._inner.read(max_bytes, bounded)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _within(timeout, httpcore.WriteTimeout) as bounded:
            self._inner.write(buffer, bounded)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        with _within(timeout, httpcore.ConnectTimeout) as bounded:
            return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        with _within(timeout, httpcore.ConnectTimeout) as bounded:
            stream = self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# httpcore's errors as httpx's, the most specific first.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, stream: typing.Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _translated():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _translated():
                close()


Pool = httpcore.ConnectionPool | httpcore.HTTPProxy


class DeadlineTransport(httpx.BaseTransport):
    """httpx's default transport (TLS from httpx, HTTP/1.1, pooled, the
    HTTP(S)_PROXY and NO_PROXY of the environment), with the call's deadline
    enforced on every socket operation."""

    def __init__(self) -> None:
        self._ssl = httpx.create_ssl_context()
        self._direct: Pool = httpcore.ConnectionPool(ssl_context=self._ssl, **_pooled())
        self._proxies = _environment_proxies()
        self._via: dict[tuple[str, str], Pool] = {}
        self._lock = threading.Lock()

    def _pool(self, url: httpx.URL) -> Pool:
        """The direct pool, or the one through the environment's proxy."""
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if proxy is None:
            return self._direct
        with self._lock:
            key = (url.host, str(proxy))
            if key not in self._via:
                self._via[key] = self._direct
                if not urllib.request.proxy_bypass(url.host):
                    self._via[key] = httpcore.HTTPProxy(
                        proxy_url=httpcore.URL(
                            scheme=proxy.raw_scheme,
                            host=proxy.raw_host,
                            port=proxy.port,
                            target=proxy.raw_path,
                        ),
                        proxy_auth=(proxy.username, proxy.password) if proxy.username else None,
                        ssl_context=self._ssl,
                        **_pooled(),
                    )
            return self._via[key]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _translated():
            response = self._pool(request.url).handle_request(core)
        assert isinstance(response.stream, typing.Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseBody(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._direct.close()
        for pool in set(self._via.values()) - {self._direct}:
            pool.close()


def _pooled() -> dict[str, Any]:
    """httpx's default pool limits, and the deadline-aware backend."""
    limits = httpx.Limits()
    return {
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "network_backend": _Backend(),
    }


def _environment_proxies() -> dict[str, httpx.URL]:
    """HTTP_PROXY, HTTPS_PROXY and ALL_PROXY, as httpx reads them (http and
    https proxies only; another kind is left unused, with a warning)."""
    found: dict[str, httpx.URL] = {}
    for scheme, value in urllib.request.getproxies().items():
        if scheme not in ("http", "https", "all") or not value:
            continue
        proxy = httpx.URL(value if "://" in value else f"http://{value}")
        if proxy.scheme in ("http", "https"):
            found[scheme] = proxy
        else:
            shown = redaction.url(str(proxy))
            log.warning("the %s proxy %s is not supported; connecting directly", scheme, shown)
    return found
