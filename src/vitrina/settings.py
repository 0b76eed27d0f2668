"""Settings: one typed table, read from the environment once, at start-up.

Every setting is a row of ``SETTINGS``: its environment variable, its type, its
default and a line of help. ``docs/configuration.md`` is kept in step with this
table by a test. Nothing below the web layer reads the environment: the CLI
builds a ``Settings`` with ``Settings.from_env()`` and passes it down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected one of true, false, yes, no, on, off, 1, 0")


def _positive_int(text: str) -> int:
    value = int(text.strip().replace("_", ""))
    if value < 1:
        raise ValueError("expected a positive whole number")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text.strip().replace("_", ""))
    if value < 0:
        raise ValueError("expected a whole number, zero or more")
    return value


def _port(text: str) -> int:
    value = int(text.strip())
    if not 0 < value < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _positive_float(text: str) -> float:
    value = float(text.strip())
    if not value > 0:
        raise ValueError("expected a positive number of seconds")
    return value


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        text = text.strip()
        if not text:
            return ""
        scheme = urlsplit(text).scheme
        if scheme not in schemes:
            raise ValueError(
                f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}"
            )
        return text.rstrip("/") if scheme.startswith("http") else text

    return parse


def _database_url(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    scheme = urlsplit(text).scheme.split("+")[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST/DB")
    return text


def _networks(text: str) -> tuple[str, ...]:
    nets = []
    for part in text.split(","):
        part = part.strip()
        if part:
            nets.append(str(ipaddress.ip_network(part, strict=False)))
    return tuple(nets)


def _ports(text: str) -> tuple[int, ...]:
    return tuple(_port(p) for p in text.split(",") if p.strip())


def _log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError("expected debug, info, warning or error")
    return level


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    parse: Callable[[str], Any]
    default: str
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "VITRINA_DATA_DIR",
        Path,
        "./data",
        "Folder for the embedded database and the local image files.",
    ),
    Setting(
        "database_url",
        "VITRINA_DATABASE_URL",
        _database_url,
        "",
        "Metadata database. Empty means sqlite:///<data dir>/vitrina.db; "
        "postgresql://user:password@host/db switches to PostgreSQL.",
        secret=True,
    ),
    Setting(
        "storage_url",
        "VITRINA_STORAGE_URL",
        _url("file", "s3"),
        "",
        "Where image files live. Empty means file://<data dir>/files.",
    ),
    Setting("host", "VITRINA_HOST", str, "127.0.0.1", "Address the server listens on."),
    Setting("port", "VITRINA_PORT", _port, "8080", "Port the server listens on."),
    Setting(
        "workers",
        "VITRINA_WORKERS",
        _positive_int,
        "1",
        "Server processes on this machine (vitrina serve --workers).",
    ),
    Setting(
        "public_url",
        "VITRINA_PUBLIC_URL",
        _url("http", "https"),
        "",
        "Base of every URL the server builds (image files, storefront links). "
        "Empty means http://<host>:<port>.",
    ),
    Setting(
        "files_url",
        "VITRINA_FILES_URL",
        _url("http", "https"),
        "",
        "Base URL that serves /images/... instead of vitrina (a CDN or a bucket's "
        "public endpoint). Empty means the public URL.",
    ),
    Setting(
        "allow_query_token",
        "VITRINA_ALLOW_QUERY_TOKEN",
        parse_bool,
        "true",
        "Accept ?token=... besides Authorization: Bearer.",
    ),
    Setting(
        "rate_limit_per_minute",
        "VITRINA_RATE_LIMIT_PER_MINUTE",
        _non_negative_int,
        "600",
        "Requests a token may make per minute (0 turns the limit off).",
    ),
    Setting(
        "rate_limit_processes",
        "VITRINA_RATE_LIMIT_PROCESSES",
        _non_negative_int,
        "0",
        "Server processes that share the rate limit, across all machines; each "
        "allows its share. 0 means this machine's VITRINA_WORKERS.",
    ),
    Setting(
        "header_timeout",
        "VITRINA_HEADER_TIMEOUT",
        _positive_float,
        "10",
        "Seconds a client has to send a request's headers (from the connection or the "
        "request's first byte); then the connection is closed.",
    ),
    Setting(
        "body_timeout",
        "VITRINA_BODY_TIMEOUT",
        _positive_float,
        "120",
        "Seconds a client has to send a request's body after its headers (20 MiB at "
        "175 KB/s); then the connection is closed.",
    ),
    Setting(
        "max_json_bytes",
        "VITRINA_MAX_JSON_BYTES",
        _positive_int,
        "1048576",
        "Largest JSON request body, in bytes.",
    ),
    Setting(
        "max_image_bytes",
        "VITRINA_MAX_IMAGE_BYTES",
        _positive_int,
        "20971520",
        "Largest image upload or download, in bytes (20 MiB).",
    ),
    Setting(
        "max_image_pixels",
        "VITRINA_MAX_IMAGE_PIXELS",
        _positive_int,
        "50000000",
        "Largest image, in pixels (width x height), checked before decoding.",
    ),
    Setting(
        "keep_original",
        "VITRINA_KEEP_ORIGINAL",
        parse_bool,
        "false",
        "Serve the original exactly as uploaded. When false, the original keeps its "
        "compressed pixels and only the metadata a browser needs to show it (orientation, "
        "colour profile); CMYK and formats browsers do not show are encoded again, "
        "upright and in sRGB.",
    ),
    Setting(
        "decode_concurrency",
        "VITRINA_DECODE_CONCURRENCY",
        _non_negative_int,
        "0",
        "Images a server process decodes at once; more wait in line. "
        "0 means the number of CPU cores.",
    ),
    Setting(
        "decode_queue",
        "VITRINA_DECODE_QUEUE",
        _non_negative_int,
        "16",
        "Uploads a server process lets wait for a decode; past that the answer is "
        "503 with Retry-After.",
    ),
    Setting(
        "render_cache_bytes",
        "VITRINA_RENDER_CACHE_BYTES",
        _non_negative_int,
        "33554432",
        "Bytes of rendered category answers a server process keeps (32 MiB; 0 keeps none).",
    ),
    Setting(
        "render_cache_largest",
        "VITRINA_RENDER_CACHE_LARGEST",
        _non_negative_int,
        "65536",
        "A rendered answer larger than this many bytes is never kept.",
    ),
    Setting(
        "gc_grace_seconds",
        "VITRINA_GC_GRACE_SECONDS",
        _non_negative_int,
        "300",
        "Unreferenced files younger than this are left alone by the sweep "
        "(they may belong to an upload still in flight).",
    ),
    Setting(
        "job_poll_seconds",
        "VITRINA_JOB_POLL_SECONDS",
        _positive_float,
        "1",
        "How often the async-upload worker looks for new jobs.",
    ),
    Setting(
        "job_concurrency",
        "VITRINA_JOB_CONCURRENCY",
        _positive_int,
        "4",
        "Async uploads a process runs at once (their downloads overlap; stores take turns).",
    ),
    Setting(
        "job_max_attempts",
        "VITRINA_JOB_MAX_ATTEMPTS",
        _positive_int,
        "5",
        "Attempts at an async upload before it is recorded as failed.",
    ),
    Setting(
        "job_lease_seconds",
        "VITRINA_JOB_LEASE_SECONDS",
        _positive_int,
        "180",
        "How long a worker holds an async job before another may take it over "
        "(it must exceed the download time limit plus processing).",
    ),
    Setting(
        "run_jobs",
        "VITRINA_RUN_JOBS",
        parse_bool,
        "true",
        "Run the async-upload worker inside vitrina serve (turn off on nodes "
        "that should only answer HTTP, and run vitrina worker elsewhere).",
    ),
    Setting(
        "fetch_allow_http",
        "VITRINA_FETCH_ALLOW_HTTP",
        parse_bool,
        "false",
        "Let externalUrl and async uploads use http:// as well as https://.",
    ),
    Setting(
        "fetch_allow_networks",
        "VITRINA_FETCH_ALLOW_NETWORKS",
        _networks,
        "",
        "Comma list of non-public networks downloads may reach on purpose "
        "(e.g. 10.1.0.0/16). Empty: public internet addresses only.",
    ),
    Setting(
        "fetch_ports",
        "VITRINA_FETCH_PORTS",
        _ports,
        "",
        "Comma list of extra ports downloads may use besides 443 (and 80 with http).",
    ),
    Setting(
        "fetch_connect_timeout",
        "VITRINA_FETCH_CONNECT_TIMEOUT",
        _positive_float,
        "5",
        "Seconds to wait for a download's connection.",
    ),
    Setting(
        "fetch_total_timeout",
        "VITRINA_FETCH_TOTAL_TIMEOUT",
        _positive_float,
        "30",
        "Seconds a whole download may take, redirects included.",
    ),
    Setting(
        "fetch_max_redirects",
        "VITRINA_FETCH_MAX_REDIRECTS",
        _non_negative_int,
        "3",
        "Redirects a download may follow.",
    ),
    Setting(
        "fetch_ca_bundle",
        "VITRINA_FETCH_CA_BUNDLE",
        str,
        "",
        "PEM file of certificate authorities trusted for downloads (empty: the certifi bundle).",
    ),
    Setting(
        "s3_endpoint_url",
        "VITRINA_S3_ENDPOINT_URL",
        _url("http", "https"),
        "",
        "Endpoint of an S3-compatible store (empty: AWS).",
    ),
    Setting("s3_region", "VITRINA_S3_REGION", str, "us-east-1", "Region of the bucket."),
    Setting(
        "s3_access_key_id",
        "VITRINA_S3_ACCESS_KEY_ID",
        str,
        "",
        "Access key (empty: the usual AWS credential chain).",
    ),
    Setting(
        "s3_secret_access_key", "VITRINA_S3_SECRET_ACCESS_KEY", str, "", "Secret key.", secret=True
    ),
    Setting("log_level", "VITRINA_LOG_LEVEL", _log_level, "info", "debug, info, warning or error."),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""
    storage_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    public_url: str = ""
    files_url: str = ""
    allow_query_token: bool = True
    rate_limit_per_minute: int = 600
    rate_limit_processes: int = 0
    header_timeout: float = 10.0
    body_timeout: float = 120.0
    max_json_bytes: int = 1_048_576
    max_image_bytes: int = 20_971_520
    max_image_pixels: int = 50_000_000
    keep_original: bool = False
    decode_concurrency: int = 0
    decode_queue: int = 16
    render_cache_bytes: int = 33_554_432
    render_cache_largest: int = 65_536
    gc_grace_seconds: int = 300
    job_poll_seconds: float = 1.0
    job_concurrency: int = 4
    job_max_attempts: int = 5
    job_lease_seconds: int = 180
    run_jobs: bool = True
    fetch_allow_http: bool = False
    fetch_allow_networks: tuple[str, ...] = ()
    fetch_ports: tuple[int, ...] = ()
    fetch_connect_timeout: float = 5.0
    fetch_total_timeout: float = 30.0
    fetch_max_redirects: int = 3
    fetch_ca_bundle: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ``; ``overrides`` (already typed) win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env, setting.default)
            try:
                values[setting.field] = setting.parse(raw)
            except ValueError as exc:
                shown = repr(raw)
                if setting.secret:
                    shown = repr(_mask_url_password(raw)) if "://" in raw else "***"
                raise SettingsError(f"{setting.env}={shown} is not valid: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vitrina.db').resolve()}"

    @property
    def effective_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return f"file://{(self.data_dir / 'files').resolve()}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104 -- a comparison, not a bind
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def effective_decode_concurrency(self) -> int:
        return self.decode_concurrency or os.cpu_count() or 1

    @property
    def effective_files_url(self) -> str:
        return self.files_url or self.effective_public_url

    def describe(self) -> list[tuple[str, str]]:
        """(variable, effective value) for every setting, secrets masked."""
        rows = []
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if setting.field == "database_url":
                value = _mask_url_password(self.effective_database_url)
            elif setting.field == "storage_url":
                value = self.effective_storage_url
            elif setting.field == "public_url":
                value = self.effective_public_url
            elif setting.field == "files_url":
                value = self.effective_files_url
            elif setting.field == "decode_concurrency":
                value = self.effective_decode_concurrency
            elif setting.secret and value:
                value = "***"
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            rows.append((setting.env, str(value)))
        return rows


def _mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
