"""The download guard (a download path that cannot be turned against
the server). No test here sends a packet outside loopback: the policy for
every other range is checked as a pure function, and refusals "before any
connection" are proven against a loopback server that counts its requests."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers import ImageServer, image_server
from vitrina.backends.fetching.addresses import IPAddress, is_allowed, is_public, parse_numeric_host
from vitrina.backends.fetching.guarded import FetchPolicy, GuardedFetcher
from vitrina.domain.errors import DownloadFailed, ImageTooBig, WrongUrl

REFUSED = [
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.88.99.1",
    "::",
    "::1",
    "fe80::1",
    "fe80::abcd%eth0",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "64:ff9b:1::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "::10.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo for 127.0.0.1
    "2001:2::1",
    "2001:10::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",
    "100.128.0.1",
    "192.0.3.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo for 8.8.8.8
]


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(_address(address))
    assert not is_allowed(_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(_address(address))


def test_the_allowlist_opens_named_networks_only() -> None:
    allowed = (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("127.0.0.1/32"))
    assert is_allowed(_address("10.1.2.3"), allowed)
    assert is_allowed(_address("::ffff:10.1.2.3"), allowed)  # judged by the IPv4 it carries
    assert is_allowed(_address("127.0.0.1"), allowed)
    assert not is_allowed(_address("127.0.0.2"), allowed)
    assert not is_allowed(_address("10.2.0.1"), allowed)
    assert not is_allowed(_address("169.254.169.254"), allowed)


@pytest.mark.parametrize(
    ("host", "meaning"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("[::1]", "::1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_numeric_tricks_are_judged_by_the_address_they_mean(host: str, meaning: str) -> None:
    assert parse_numeric_host(host) == ipaddress.ip_address(meaning)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "0x1g.1", "1..2"])
def test_names_are_not_numbers(host: str) -> None:
    assert parse_numeric_host(host) is None


def _fetcher(server: ImageServer | None = None, **options: Any) -> GuardedFetcher:
    values: dict[str, Any] = {
        "resolver": lambda host, port: [ipaddress.ip_address("127.0.0.1")],
        "total_timeout": 5.0,
        "connect_timeout": 2.0,
    }
    if server is not None:
        values["extra_ports"] = frozenset({server.port})
        values["ca_bundle"] = str(server.ca_file)
    values.update(options)
    return GuardedFetcher(FetchPolicy(**values))


LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImageServer]:
    with image_server(tmp_path) as running:
        yield running


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://images.test/a.jpg", "Only https://"),
        ("ftp://images.test/a.jpg", "Only https://"),
        ("https://user:pw@images.test/a.jpg", "user name or password"),
        ("https://images.test:8443/a.jpg", "Port 8443"),
        ("https:///a.jpg", "no host"),
        ("https://exa mple.com/", "malformed"),
        ("not a url", "Only https://"),
    ],
)
def test_url_forms_are_refused_without_any_traffic(url: str, words: str) -> None:
    def no_resolving(host: str, port: int) -> list[IPAddress]:
        raise AssertionError("must not resolve")

    with pytest.raises(WrongUrl) as caught:
        _fetcher(resolver=no_resolving).fetch(url, Path("/nonexistent"), 1000)
    assert words in caught.value.message


def test_http_only_where_allowed() -> None:
    fetcher = _fetcher(allow_http=True)
    assert fetcher.check_url("http://images.test/a.jpg").port is None
    with pytest.raises(WrongUrl):
        fetcher.check_url("http://images.test:8080/a.jpg")


def test_a_name_with_any_forbidden_answer_is_refused() -> None:
    def mixed(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.1")]

    with pytest.raises(WrongUrl) as caught:
        _fetcher(resolver=mixed).resolve("evil.test", 443)
    assert "10.0.0.1" not in caught.value.message  # resolved addresses are never echoed
    assert _fetcher(resolver=lambda h, p: [ipaddress.ip_address("8.8.8.8")]).resolve("ok.test", 443)


def test_dns_failure_is_a_download_failure() -> None:
    def failing(host: str, port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")

    with pytest.raises(DownloadFailed) as caught:
        _fetcher(resolver=failing).resolve("nowhere.test", 443)
    assert "resolve" in caught.value.message


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "localhost",
        "images.test",
    ],
)
def test_loopback_targets_are_refused_before_any_connection(
    server: ImageServer, tmp_path: Path, host: str
) -> None:
    fetcher = _fetcher(server)  # the allowlist is empty
    with pytest.raises(WrongUrl):
        fetcher.fetch(server.url("/image.jpg", host=host), tmp_path / "out", 10**6)
    assert server.requests == []


def test_an_allowed_network_is_reached_and_tls_is_verified(
    server: ImageServer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _fetcher(server, allowed_networks=LOOPBACK).fetch(server.url("/image.jpg"), out, 10**6)
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    assert server.requests == ["/image.jpg"]


def test_a_certificate_for_another_name_is_refused(server: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as caught:
        _fetcher(server, allowed_networks=LOOPBACK).fetch(
            server.url("/image.jpg", host="other.test"), tmp_path / "out", 10**6
        )
    assert "certificate" in caught.value.message


def test_redirects_are_followed_and_checked_at_every_hop(
    server: ImageServer, tmp_path: Path
) -> None:
    fetcher = _fetcher(server, allowed_networks=LOOPBACK)
    fetcher.fetch(server.url("/redirect?to=/image.jpg"), tmp_path / "a", 10**6)
    assert server.requests == ["/redirect?to=/image.jpg", "/image.jpg"]
    server.requests.clear()
    forbidden = f"https://127.0.0.2:{server.port}/image.jpg"  # loopback, but not allowed
    with pytest.raises(WrongUrl) as caught:
        fetcher.fetch(server.url(f"/redirect?to={forbidden}"), tmp_path / "b", 10**6)
    assert "Redirected" in caught.value.message
    assert server.requests == [f"/redirect?to={forbidden}"]
    server.requests.clear()
    with pytest.raises(WrongUrl):
        fetcher.fetch(server.url("/redirect?to=http://images.test/x"), tmp_path / "c", 10**6)


@pytest.mark.parametrize(
    "location", ["http://[::1", "https://xn--/x.jpg", "\x1b[2J", "https://a b/"]
)
def test_a_malformed_redirect_is_refused_as_a_url(
    server: ImageServer, tmp_path: Path, location: str
) -> None:
    fetcher = _fetcher(server, allowed_networks=LOOPBACK)
    with pytest.raises(WrongUrl) as caught:
        fetcher.fetch(server.url(f"/redirect?to={quote(location)}"), tmp_path / "a", 10**6)
    assert caught.value.message.startswith("Redirected to a URL that is not allowed")
    assert len(server.requests) == 1  # nothing was fetched from it


def test_redirect_loops_stop_at_the_limit(server: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as caught:
        _fetcher(server, allowed_networks=LOOPBACK).fetch(
            server.url("/loop"), tmp_path / "o", 10**6
        )
    assert "Too many redirects" in caught.value.message
    assert len(server.requests) == 4  # the first request and three redirects


def test_a_changing_dns_answer_cannot_move_the_connection(
    server: ImageServer, tmp_path: Path
) -> None:
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return [ipaddress.ip_address(next(answers))]

    fetcher = _fetcher(server, allowed_networks=LOOPBACK, resolver=rebinding)
    fetcher.fetch(server.url("/image.jpg"), tmp_path / "out", 10**6)
    assert asked == ["images.test"]  # resolved once; the connection went to the checked address
    assert server.requests == ["/image.jpg"]


def test_http_errors_name_the_status(server: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed) as caught:
        _fetcher(server, allowed_networks=LOOPBACK).fetch(
            server.url("/status/404"), tmp_path / "o", 10**6
        )
    assert "404" in caught.value.message


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
def test_the_byte_cap_holds_with_or_without_content_length(
    server: ImageServer, tmp_path: Path, path: str
) -> None:
    out = tmp_path / "o"
    with pytest.raises(ImageTooBig):
        _fetcher(server, allowed_networks=LOOPBACK).fetch(server.url(path), out, 1_000_000)
    assert not out.exists() or out.stat().st_size <= 1_000_000


@pytest.mark.parametrize("path", ["/trickle", "/hang"])
def test_slow_sources_are_cut_off_at_the_time_limit(
    server: ImageServer, tmp_path: Path, path: str
) -> None:
    fetcher = _fetcher(server, allowed_networks=LOOPBACK, total_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DownloadFailed) as caught:
        fetcher.fetch(server.url(path), tmp_path / "o", 10**6)
    assert time.monotonic() - started < 2.5
    assert "longer than 1 seconds" in caught.value.message


def test_nothing_comes_from_the_environment(
    server: ImageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.9:9")  # would fail if used
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    _fetcher(server, allowed_networks=LOOPBACK).fetch(
        server.url("/image.jpg"), tmp_path / "o", 10**6
    )
    assert server.requests == ["/image.jpg"]
