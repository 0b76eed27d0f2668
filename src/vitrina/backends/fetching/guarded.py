"""The URL fetcher that both ``externalUrl`` and async uploads use, and the
POST that webhooks are sent with.

Every hop: check the URL (scheme, no credentials, port), resolve the host
once, refuse if *any* answer is not allowed, then connect to the checked
address itself, while TLS still verifies the certificate for the host name.
Redirects are followed by hand, each one checked from scratch. One deadline
covers the whole download, and the byte cap is counted as bytes arrive.
No proxy, ``.netrc`` or cookies are ever used: nothing comes from the
environment.

A POST (``post``) is checked the same way at every call and never follows a
redirect: a 3xx is an answer like any other. Its connection may be kept
alive for the next POST to the same host (``KeptConnections``), but only
while the host still resolves to the very address it was opened to.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import httpcore
import httpx

from vitrina.backends.fetching.addresses import IPAddress, IPNetwork, is_allowed, parse_numeric_host
from vitrina.backends.fetching.pinned import Deadline, PinnedBackend
from vitrina.domain.byte_cap import ByteCap
from vitrina.domain.errors import DownloadFailed, ImageTooBig, TimedOut, WrongUrl
from vitrina.domain.values import PostAnswer

log = logging.getLogger("vitrina.fetch")

Resolver = Callable[[str, int], list[IPAddress]]
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024
# A POST's answer: read to its end (so the connection can serve the next
# one) unless it is longer than this; then the connection is dropped.
_ANSWER_READ = 64 * 1024
_KEEP_ALIVE_SECONDS = 4.0  # an idle connection is closed before a server's usual 5 s
_HOST = re.compile(r"[A-Za-z0-9_.-]{1,253}|[0-9A-Fa-f:.]+")


def system_resolver(host: str, port: int) -> list[IPAddress]:
    import ipaddress

    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    extra_ports: frozenset[int] = frozenset()
    connect_timeout: float = 5.0
    total_timeout: float = 30.0
    max_redirects: int = 3
    ca_bundle: str = ""
    resolver: Resolver = field(default=system_resolver)
    any_port: bool = False  # webhooks: an app's URL may name any port

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.allow_http else ("https",)

    @property
    def ports(self) -> frozenset[int]:
        return frozenset({443, 80} if self.allow_http else {443}) | self.extra_ports


def _joined(base: httpx.URL, location: str) -> str:
    """A redirect's Location as an absolute URL; WrongUrl for one httpx
    cannot read (a hostile server chooses it)."""
    try:
        return str(base.join(location))
    except (httpx.InvalidURL, UnicodeError, ValueError, TypeError):
        raise WrongUrl("the Location is malformed") from None


@dataclass(frozen=True)
class Outgoing:
    """A POST as it goes on the wire: its checked URL, every header in the
    order sent (``Host`` first, ``Content-Length`` last) and the body."""

    url: httpx.URL
    headers: tuple[tuple[str, str], ...]
    body: bytes


class _Stale(DownloadFailed):
    """A kept connection failed before its answer began (the server had closed it)."""


_Key = tuple[str, str, int, str]  # scheme, host, port, the address checked


class KeptConnections:
    """Kept-alive POST connections of one thread (used by one request at a
    time), one per scheme, host, port and the address that was checked: a
    host that now resolves elsewhere gets a new connection, to the new
    address, after its check. The least recently used are closed beyond
    ``most``."""

    def __init__(self, most: int = 16) -> None:
        self.most = most
        self._pools: OrderedDict[_Key, tuple[httpcore.ConnectionPool, Deadline]] = OrderedDict()

    def take(self, key: _Key) -> tuple[httpcore.ConnectionPool, Deadline] | None:
        return self._pools.pop(key, None)

    def keep(self, key: _Key, pool: httpcore.ConnectionPool, deadline: Deadline) -> None:
        self._pools[key] = (pool, deadline)
        while len(self._pools) > self.most:
            _, (oldest, _) = self._pools.popitem(last=False)
            oldest.close()

    def close(self) -> None:
        while self._pools:
            _, (pool, _) = self._pools.popitem()
            pool.close()


class GuardedFetcher:
    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._ssl = ssl.create_default_context(cafile=policy.ca_bundle or certifi.where())

    # -- checks, no network -------------------------------------------------

    def check_url(self, url: str) -> httpx.URL:
        """The parsed URL if its form is allowed; WrongUrl otherwise."""
        if len(url) > 4096:
            raise WrongUrl("The URL is longer than 4096 characters")
        try:
            parsed = httpx.URL(url.strip())
            host = parsed.host  # decodes an IDNA name, which may fail
        except (httpx.InvalidURL, ValueError, TypeError):
            raise WrongUrl("The URL is malformed") from None
        if parsed.scheme not in self.policy.schemes:
            allowed = " or ".join(s + "://" for s in self.policy.schemes)
            raise WrongUrl(f"Only {allowed} URLs can be downloaded")
        if not host:
            raise WrongUrl("The URL has no host")
        if not _HOST.fullmatch(parsed.raw_host.decode("ascii", "replace")):
            raise WrongUrl("The URL is malformed: the host name is not valid")
        if parsed.userinfo:
            raise WrongUrl("URLs with a user name or password are not accepted")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if not self.policy.any_port and port not in self.policy.ports:
            raise WrongUrl(f"Port {port} is not allowed for downloads")
        return parsed

    def resolve(self, host: str, port: int) -> IPAddress:
        """The one address to connect to, after checking every answer."""
        numeric = parse_numeric_host(host)
        if numeric is not None:
            addresses = [numeric]
        else:
            try:
                addresses = self.policy.resolver(host, port)
            except (OSError, UnicodeError, ValueError):
                raise DownloadFailed("Could not resolve the URL's host name") from None
            if not addresses:
                raise DownloadFailed("The URL's host name has no address")
        if not all(is_allowed(a, self.policy.allowed_networks) for a in addresses):
            raise WrongUrl("The URL does not point to a public internet address")
        return addresses[0]

    # -- the download ---------------------------------------------------------

    def fetch(self, url: str, destination: Path, max_bytes: int) -> None:
        deadline = time.monotonic() + self.policy.total_timeout
        current = self.check_url(url)
        for hop in range(self.policy.max_redirects + 1):
            try:
                location = self._hop(current, destination, max_bytes, deadline)
            except WrongUrl as exc:
                if hop:
                    raise WrongUrl(
                        f"Redirected to a URL that is not allowed: {exc.message}"
                    ) from None
                raise
            if location is None:
                return
            try:
                current = self.check_url(_joined(current, location))
            except WrongUrl as exc:
                raise WrongUrl(f"Redirected to a URL that is not allowed: {exc.message}") from None
        raise DownloadFailed(f"Too many redirects (the limit is {self.policy.max_redirects})")

    def _hop(
        self, url: httpx.URL, destination: Path, max_bytes: int, deadline: float
    ) -> str | None:
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self.resolve(url.raw_host.decode("ascii"), port)
        backend = PinnedBackend(str(address), deadline)
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl, network_backend=backend, max_connections=1, retries=0
        )
        timeout = {
            "connect": min(self.policy.connect_timeout, max(deadline - time.monotonic(), 0.001)),
            "read": self.policy.total_timeout,
            "write": self.policy.total_timeout,
            "pool": self.policy.total_timeout,
        }
        headers = [
            (b"Host", url.netloc),
            (b"User-Agent", b"vitrina/0.1 (+image import)"),
            (b"Accept", b"image/*,*/*;q=0.5"),
            (b"Accept-Encoding", b"identity"),
        ]
        try:
            with (
                pool,
                pool.stream(
                    "GET", str(url), headers=headers, extensions={"timeout": timeout}
                ) as response,
            ):
                if response.status in _REDIRECTS:
                    location = _header(response.headers, b"location")
                    if not location:
                        raise DownloadFailed(
                            f"The server answered {response.status} with no Location"
                        )
                    return location
                if not 200 <= response.status < 300:
                    raise DownloadFailed(f"The server answered HTTP {response.status}")
                cap = ByteCap(max_bytes, lambda: ImageTooBig(max_bytes))
                cap.declared(_header(response.headers, b"content-length"))
                with destination.open("wb") as out:
                    for chunk in response.iter_stream():
                        out.write(cap.add(chunk))
                return None
        except httpcore.TimeoutException:
            raise DownloadFailed(
                f"The download took longer than {self.policy.total_timeout:g} seconds"
            ) from None
        except httpcore.ConnectError as exc:
            if isinstance(exc.__context__, ssl.SSLError) or "SSL" in str(exc):
                raise DownloadFailed("The server's TLS certificate could not be verified") from None
            raise DownloadFailed("Could not connect to the server") from None
        except (httpcore.ProtocolError, httpcore.NetworkError, ssl.SSLError, OSError):
            raise DownloadFailed("The connection to the server failed") from None

    # -- a POST (webhooks) -------------------------------------------------

    def prepare_post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Outgoing:
        """The POST as it will be sent; WrongUrl when the URL's form is refused."""
        parsed = self.check_url(url)
        sent = (
            ("Host", parsed.netloc.decode("ascii")),
            *headers,
            ("Content-Length", str(len(body))),
        )
        return Outgoing(parsed, sent, body)

    def kept_connections(self) -> KeptConnections:
        """A thread's own kept-alive connections, for its ``post`` calls."""
        return KeptConnections()

    def post(
        self, outgoing: Outgoing, kept: KeptConnections | None = None, keep: int = 2048
    ) -> PostAnswer:
        """Send ``outgoing`` to the address its host has now, if every address
        the host has is allowed (WrongUrl otherwise), within the policy's
        connect and total deadlines (DownloadFailed when one passes, or the
        connection fails). Redirects are answers, never followed. The
        answer's body is kept up to ``keep`` bytes."""
        deadline = time.monotonic() + self.policy.total_timeout
        url = outgoing.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = str(self.resolve(url.raw_host.decode("ascii"), port))
        key: _Key = (url.scheme, url.host, port, address)
        taken = kept.take(key) if kept is not None else None
        if taken is not None:
            try:
                return self._post(outgoing, key, taken, deadline, kept, keep)
            except _Stale:
                pass  # the server closed the kept connection as it was reused: a new one
        return self._post(outgoing, key, None, deadline, kept, keep)

    def _post(
        self,
        outgoing: Outgoing,
        key: _Key,
        taken: tuple[httpcore.ConnectionPool, Deadline] | None,
        deadline: float,
        kept: KeptConnections | None,
        keep: int,
    ) -> PostAnswer:
        if taken is None:
            timer = Deadline(deadline)
            pool = httpcore.ConnectionPool(
                ssl_context=self._ssl,
                network_backend=PinnedBackend(key[3], timer),
                max_connections=1,
                max_keepalive_connections=1,
                keepalive_expiry=_KEEP_ALIVE_SECONDS,
                retries=0,
            )
        else:
            pool, timer = taken
            timer.at = deadline
        left = max(deadline - time.monotonic(), 0.001)
        timeout = {
            "connect": min(self.policy.connect_timeout, left),
            "read": left,
            "write": left,
            "pool": left,
        }
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in outgoing.headers
        ]
        began = False  # the answer's status line arrived
        try:
            with pool.stream(
                "POST",
                str(outgoing.url),
                headers=headers,
                content=outgoing.body,
                extensions={"timeout": timeout},
            ) as response:
                began = True
                body = bytearray()
                for chunk in response.iter_stream():
                    body += chunk
                    if len(body) > _ANSWER_READ:
                        break  # the connection is dropped, not kept
                answer = PostAnswer(
                    response.status,
                    tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers),
                    bytes(body[:keep]),
                )
        except httpcore.ConnectTimeout:
            pool.close()
            raise TimedOut(f"No connection within {self.policy.connect_timeout:g} s") from None
        except httpcore.TimeoutException:
            pool.close()
            raise TimedOut(f"No complete answer within {self.policy.total_timeout:g} s") from None
        except httpcore.ConnectError as exc:
            pool.close()
            if isinstance(exc.__context__, ssl.SSLError) or "SSL" in str(exc):
                raise DownloadFailed(
                    "The receiver's TLS certificate could not be verified"
                ) from None
            if "refused" in str(exc).lower():
                raise DownloadFailed("Could not connect: the connection was refused") from None
            raise DownloadFailed("Could not connect to the receiver") from None
        except (httpcore.ProtocolError, httpcore.NetworkError, ssl.SSLError, OSError) as exc:
            pool.close()
            failed = (
                _Stale
                if taken is not None and not began and not isinstance(exc, ssl.SSLError)
                else DownloadFailed
            )
            raise failed("The connection failed before a complete answer") from None
        if kept is not None:
            kept.keep(key, pool, timer)
        else:
            pool.close()
        return answer


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""
