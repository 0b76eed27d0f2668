"""The source images of ``vitrina mirror``, fetched through the server's own
download guard (``vitrina.backends.fetching``, which needs only httpx): every hop's
URL checked, its host resolved once and every answer judged by the server's
public-address rule (``fetching/addresses.py``), the connection made to the
address that was judged (TLS still checks the name), each redirect checked
again, one deadline for the whole download, and the byte cap counted as the
bytes arrive.

The mirror's own rules: http and https are both fine, on the URL's own port
(a redirect may go to that port, 80 or 443); non-public addresses are
refused unless the user names their networks (``allowed_networks``:
``--allow-source-network``, or ``--allow-private-sources`` for all).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from vitrina.backends.fetching.addresses import IPAddress, IPNetwork
from vitrina.backends.fetching.guarded import FetchPolicy, GuardedFetcher, Resolver, system_resolver
from vitrina.domain.errors import VitrinaError, WrongUrl

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the server's VITRINA_MAX_IMAGE_BYTES
ANYWHERE: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("0.0.0.0/0"),
    ipaddress.IPv6Network("::/0"),
)
_ALLOW_HINT = (
    " (--allow-source-network NETWORK or --allow-private-sources lets the mirror reach it)"
)


class DownloadRefused(Exception):
    """A source image that was not downloaded, and why."""


@dataclass(frozen=True)
class SourcePolicy:
    """How source images may be downloaded."""

    max_bytes: int = MAX_IMAGE_BYTES
    total_timeout: float = 120.0  # the whole download, redirects included
    connect_timeout: float = 10.0
    max_redirects: int = 3
    allowed_networks: tuple[IPNetwork, ...] = ()  # beyond the public internet
    resolver: Resolver = field(default=system_resolver)


class SourceImages:
    def __init__(self, policy: SourcePolicy | None = None) -> None:
        self.policy = policy or SourcePolicy()
        self._guards: dict[int, GuardedFetcher] = {}

    def _guard(self, url: str) -> GuardedFetcher:
        """The guard for ``url``'s port (one per port: a TLS context each)."""
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, ValueError, TypeError):
            raise DownloadRefused("The URL is malformed") from None
        port = parsed.port or 0
        if port not in self._guards:
            self._guards[port] = GuardedFetcher(
                FetchPolicy(
                    allow_http=True,
                    allowed_networks=self.policy.allowed_networks,
                    extra_ports=frozenset({port} - {0}),
                    connect_timeout=self.policy.connect_timeout,
                    total_timeout=self.policy.total_timeout,
                    max_redirects=self.policy.max_redirects,
                    resolver=self.policy.resolver,
                )
            )
        return self._guards[port]

    def judge(self, url: str) -> IPAddress:
        """The address ``url`` would be fetched from; DownloadRefused when its
        form or any address its host resolves to is not allowed. Connects to
        nothing."""
        guard = self._guard(url)
        try:
            parsed = guard.check_url(url)
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            return guard.resolve(parsed.raw_host.decode("ascii"), port)
        except VitrinaError as exc:
            raise _refused(exc) from None

    def fetch(self, url: str, destination: Path) -> str:
        """Download ``url`` into ``destination``; its SHA-256."""
        try:
            self._guard(url).fetch(url, destination, self.policy.max_bytes)
        except VitrinaError as exc:
            raise _refused(exc) from None
        except (httpx.InvalidURL, ValueError):  # the guard joins a redirect's Location unchecked
            raise DownloadRefused("A redirect's Location is malformed") from None
        hashed = hashlib.sha256()
        with destination.open("rb") as saved:
            for chunk in iter(lambda: saved.read(1 << 20), b""):
                hashed.update(chunk)
        return hashed.hexdigest()


def _refused(error: VitrinaError) -> DownloadRefused:
    """The guard's error (the server's tree) as the client's."""
    message = error.message
    if isinstance(error, WrongUrl) and "public internet address" in message:
        message += _ALLOW_HINT
    return DownloadRefused(message)
