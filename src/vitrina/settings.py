"""Settings: one typed table, read from the environment once, at start-up.

Every setting is a row of ``SETTINGS``: its environment variable (``VITRINA_``
and the field's name), its type, its default and a line of help.
``docs/configuration.md`` is kept in step with this table by a test. Nothing
below the web layer reads the environment: the CLI builds a ``Settings``
with ``Settings.from_env()`` and passes it down.
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

from vitrina.domain.numbers import parse_bool


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


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


def _delays(text: str) -> tuple[float, ...]:
    delays = tuple(_positive_float(p) for p in text.split(",") if p.strip())
    if len(delays) > 100:
        raise ValueError("expected at most 100 delays")
    return delays


def _ports(text: str) -> tuple[int, ...]:
    return tuple(_port(p) for p in text.split(",") if p.strip())


def _log_format(text: str) -> str:
    chosen = text.strip().lower()
    if chosen not in ("text", "json"):
        raise ValueError("expected text or json")
    return chosen


def _log_level(text: str) -> str:
    level = text.strip().lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ValueError("expected debug, info, warning or error")
    return level


def _auto_bool(text: str) -> bool | None:
    return None if text.strip().lower() == "auto" else parse_bool(text)


def _image_formats(text: str) -> tuple[str, ...]:
    chosen = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    for fmt in chosen:
        if fmt not in ("avif", "webp"):
            raise ValueError(f"expected avif and/or webp, in order of preference; got {fmt!r}")
    if len(set(chosen)) != len(chosen):
        raise ValueError("a format is named twice")
    return chosen


def _image_widths(text: str) -> tuple[int, ...]:
    widths = tuple(sorted({_positive_int(p) for p in text.split(",") if p.strip()}))
    if len(widths) > 32 or any(w > 8192 for w in widths):
        raise ValueError("expected at most 32 widths, each at most 8192")
    return widths


@dataclass(frozen=True)
class _Declared:
    parse: Callable[[str], Any]
    help: str
    secret: bool
    shown: str | None


def setting(
    default: Any,
    parse: Callable[[str], Any],
    help: str,
    *,
    secret: bool = False,
    shown: str | None = None,
) -> Any:
    """Declare a setting: a field of ``Settings`` with its default, the
    parser of its text, a line of help, whether it is a secret, and how the
    default reads in the docs (when not ``str()``). Its environment variable
    is ``VITRINA_`` and the field's name in capitals."""
    return dataclasses.field(
        default=default, metadata={"setting": _Declared(parse, help, secret, shown)}
    )


@dataclass(frozen=True)
class Settings:
    """Every setting, declared once: the environment variable, the typed
    default, the parser and the help are here; ``SETTINGS`` (the table that
    ``from_env``, ``describe`` and docs/configuration.md use) derives from it."""

    data_dir: Path = setting(
        Path("./data"),
        Path,
        "Folder for the embedded database and the local image files.",
        shown="./data",
    )
    database_url: str = setting(
        "",
        _database_url,
        "Metadata database. Empty means sqlite:///<data dir>/vitrina.db; "
        "postgresql://user:password@host/db switches to PostgreSQL.",
        secret=True,
    )
    storage_url: str = setting(
        "",
        _url("file", "s3"),
        "Where image files live. Empty means file://<data dir>/files.",
    )
    host: str = setting(
        "127.0.0.1",
        str,
        "Address the server listens on.",
    )
    port: int = setting(
        8080,
        _port,
        "Port the server listens on.",
    )
    workers: int = setting(
        1,
        _positive_int,
        "Server processes on this machine (vitrina serve --workers).",
    )
    public_url: str = setting(
        "",
        _url("http", "https"),
        "Base of every URL the server builds (image files, storefront links). Empty means"
        " http://<host>:<port>.",
    )
    files_url: str = setting(
        "",
        _url("http", "https"),
        "Base URL that serves /images/... instead of vitrina (a CDN or a bucket's public "
        "endpoint). Empty means the public URL.",
    )
    files_redirect: bool = setting(
        True,
        parse_bool,
        "With S3 storage and no VITRINA_FILES_URL: answer /images/... with a 307 to a "
        "short-lived presigned URL of the object (false: stream it through vitrina, for "
        "buckets clients cannot reach).",
    )
    files_redirect_seconds: int = setting(
        300,
        _positive_int,
        "How long a presigned file URL is valid; browsers may cache the redirect for half of it.",
    )
    files_cache_bytes: int = setting(
        67_108_864,
        _non_negative_int,
        "Bytes of image files a server process keeps in memory when it streams them from "
        "S3 (VITRINA_FILES_REDIRECT=false): the hottest files under 256 KiB, so a popular "
        "thumbnail is not fetched from the bucket on every request (64 MiB; 0 keeps none).",
    )
    image_formats: tuple[str, ...] = setting(
        ("avif", "webp"),
        _image_formats,
        "Formats /images/... may answer in, instead of the stored one, to browsers whose "
        "Accept names them, in order of preference (avif, webp). Empty: always the stored "
        "format, and no Vary: Accept.",
    )
    image_widths: tuple[int, ...] = setting(
        (160, 320, 480, 640, 800, 1200, 1600),
        _image_widths,
        "Widths /images/...?width=W answers (for srcset); any other W is a 400. Empty: "
        "?width= is refused.",
    )
    allow_query_token: bool = setting(
        True,
        parse_bool,
        "Accept ?token=... besides Authorization: Bearer.",
    )
    rate_limit_per_minute: int = setting(
        600,
        _non_negative_int,
        "Requests a token may make per minute (0 turns the limit off).",
    )
    rate_limit_processes: int = setting(
        0,
        _non_negative_int,
        "Server processes that share the rate limit, across all machines; each allows its"
        " share. 0 means this machine's VITRINA_WORKERS.",
    )
    header_timeout: float = setting(
        10.0,
        _positive_float,
        "Seconds a client has to send a request's headers (from the connection or the "
        "request's first byte); then the connection is closed.",
    )
    body_timeout: float = setting(
        120.0,
        _positive_float,
        "Seconds a client has to send a request's body after its headers (20 MiB at 175 "
        "KB/s); then the connection is closed.",
    )
    max_json_bytes: int = setting(
        1_048_576,
        _positive_int,
        "Largest JSON request body, in bytes.",
    )
    max_image_bytes: int = setting(
        20_971_520,
        _positive_int,
        "Largest image upload or download, in bytes (20 MiB).",
    )
    max_image_pixels: int = setting(
        50_000_000,
        _positive_int,
        "Largest image, in pixels (width x height), checked before decoding.",
    )
    keep_original: bool = setting(
        False,
        parse_bool,
        "Serve the original exactly as uploaded. When false, the original keeps its "
        "compressed pixels and only the metadata a browser needs to show it (orientation,"
        " colour profile); CMYK and formats browsers do not show are encoded again, "
        "upright and in sRGB.",
    )
    dedup_uploads: bool | None = setting(
        None,
        _auto_bool,
        "Store identical uploads once per store: an upload of bytes the store already has "
        "(processed with the same image sizes) gets files of its own, with its own URLs, "
        "over the bytes stored for the first one, and is not processed again. auto: on, "
        "unless VITRINA_FILES_URL is set (a bucket or file server serving the URLs directly "
        "has no object under a shared file's own name). false: every upload is stored anew.",
        shown="auto",
    )
    decode_concurrency: int = setting(
        0,
        _non_negative_int,
        "Images a server process decodes at once; more wait in line. 0 means the number "
        "of CPU cores.",
    )
    decode_queue: int = setting(
        16,
        _non_negative_int,
        "Uploads a server process lets wait for a decode; past that the answer is 503 "
        "with Retry-After.",
    )
    render_cache_bytes: int = setting(
        33_554_432,
        _non_negative_int,
        "Bytes of rendered category and search answers a server process keeps "
        "(32 MiB; 0 keeps none).",
    )
    render_cache_largest: int = setting(
        65_536,
        _non_negative_int,
        "A rendered answer larger than this many bytes is never kept.",
    )
    gc_grace_seconds: int = setting(
        300,
        _non_negative_int,
        "Unreferenced files younger than this are left alone by the sweep (they may "
        "belong to an upload still in flight).",
    )
    job_poll_seconds: float = setting(
        1.0,
        _positive_float,
        "How often the async-upload worker looks for new jobs.",
    )
    job_concurrency: int = setting(
        4,
        _positive_int,
        "Async uploads a process runs at once (their downloads overlap; stores take turns).",
    )
    job_max_attempts: int = setting(
        5,
        _positive_int,
        "Attempts at an async upload before it is recorded as failed.",
    )
    job_queue_per_store: int = setting(
        1000,
        _non_negative_int,
        "Async uploads a store may have queued or running; one more is answered 429 with "
        "Retry-After. 0: no limit.",
    )
    job_retention_seconds: int = setting(
        7 * 24 * 3600,
        _positive_int,
        "How long a finished async upload (done, failed, cancelled) is kept for "
        "GET /_jobs/{imageId} and vitrina jobs; older ones are deleted hourly and by vitrina gc.",
    )
    job_lease_seconds: int = setting(
        180,
        _positive_int,
        "How long a worker holds an async job before another may take it over (it must "
        "exceed the download time limit plus processing).",
    )
    run_jobs: bool = setting(
        True,
        parse_bool,
        "Run the async-upload worker inside vitrina serve (turn off on nodes that should "
        "only answer HTTP, and run vitrina worker elsewhere).",
    )
    shutdown_grace_seconds: int = setting(
        30,
        _positive_int,
        "On SIGTERM: how long requests in flight (uploads included) and async jobs may "
        "take to finish; jobs still running then are handed to another worker.",
    )
    shutdown_drain_seconds: int = setting(
        0,
        _non_negative_int,
        "On SIGTERM: how long to keep serving, with /readyz answering 503, before "
        "closing the listener, so a load balancer stops sending first (one process only).",
    )
    ready_max_job_age_seconds: int = setting(
        0,
        _non_negative_int,
        "/readyz answers 503 while the oldest queued async job is older than this. "
        "0: the job queue does not affect readiness.",
    )
    ready_max_webhook_age_seconds: int = setting(
        0,
        _non_negative_int,
        "/readyz answers 503 while a webhook delivery has been due for longer than this "
        "without being sent. 0: webhooks do not affect readiness.",
    )
    rate_limit_shared: bool = setting(
        False,
        parse_bool,
        "Count the rate limit in the database, exactly, for all processes and machines "
        "together (one database write per request), instead of each process allowing "
        "its share.",
    )
    request_log: bool = setting(
        True,
        parse_bool,
        "Keep each store's last 1,000 API requests (method, path, query without the token,"
        " status, duration, errorCode) for the console and GET /api/v3/{storeId}/_requests.",
    )
    console_link_seconds: int = setting(
        600,
        _positive_int,
        "How long a console sign-in link (vitrina console-link, vitrina demo) may be used;"
        " each works once.",
    )
    console_session_seconds: int = setting(
        43_200,
        _positive_int,
        "How long a console session opened by a sign-in link lasts (12 hours); its token"
        " then stops working. Also the life of the token in a native app page's payload.",
    )
    fetch_allow_http: bool = setting(
        False,
        parse_bool,
        "Let externalUrl and async uploads use http:// as well as https://.",
    )
    fetch_allow_networks: tuple[str, ...] = setting(
        (),
        _networks,
        "Comma list of non-public networks downloads may reach on purpose (e.g. "
        "10.1.0.0/16). Empty: public internet addresses only.",
    )
    fetch_ports: tuple[int, ...] = setting(
        (),
        _ports,
        "Comma list of extra ports downloads may use besides 443 (and 80 with http).",
    )
    fetch_connect_timeout: float = setting(
        5.0,
        _positive_float,
        "Seconds to wait for a download's connection.",
    )
    fetch_total_timeout: float = setting(
        30.0,
        _positive_float,
        "Seconds a whole download may take, redirects included.",
    )
    fetch_max_redirects: int = setting(
        3,
        _non_negative_int,
        "Redirects a download may follow.",
    )
    webhook_allow_http: bool = setting(
        False,
        parse_bool,
        "Let app webhook URLs use http:// as well as https:// (make run turns it on, with "
        "loopback in VITRINA_WEBHOOK_ALLOW_NETWORKS, for apps on this machine).",
    )
    webhook_allow_networks: tuple[str, ...] = setting(
        (),
        _networks,
        "Comma list of non-public networks webhooks may reach on purpose (e.g. 127.0.0.0/8 "
        "for an app on the developer's machine). Empty: public internet addresses only.",
    )
    webhook_retry_seconds: tuple[float, ...] = setting(
        (),
        _delays,
        "Comma list of delays in seconds between a webhook's attempts (e.g. 1,2,5 for "
        "development: four attempts, then it gives up). Empty: Ecwid's schedule, retries 15 min, "
        "30 min, 45 min, 1 h and 2 h after the first attempt, then hourly to 23 h: 27 attempts "
        "within 24 hours.",
    )
    webhook_concurrency: int = setting(
        8,
        _positive_int,
        "Webhook deliveries a worker process sends at once. Apps take turns and one app's "
        "receiver gets at most 4 at a time, so with more than 4 a slow receiver never holds "
        "every one.",
    )
    webhook_retention_seconds: int = setting(
        7 * 24 * 3600,
        _positive_int,
        "How long a finished webhook delivery (delivered, or given up) and its attempts are "
        "kept in the delivery log; older ones are deleted hourly by the worker.",
    )
    batch_concurrency: int = setting(
        2,
        _positive_int,
        "Batch tickets a process runs at once (each runs its requests one after another; "
        "stores take turns).",
    )
    batch_queue_per_store: int = setting(
        20,
        _non_negative_int,
        "Batch tickets a store may have waiting or running; one more is answered 429 with "
        "Retry-After. 0: no limit.",
    )
    batch_max_bytes: int = setting(
        10_485_760,
        _positive_int,
        "Largest batch request body (up to 500 requests with their bodies), in bytes (10 MiB).",
    )
    batch_lease_seconds: int = setting(
        30,
        _positive_int,
        "How long a worker's hold on a batch ticket lasts without being renewed (it is "
        "renewed every third of it); a ticket whose worker died is taken over after this.",
    )
    batch_retention_seconds: int = setting(
        24 * 3600,
        _positive_int,
        "How long a completed batch ticket and its answers are kept for GET /batch; older "
        "ones are deleted hourly by the worker.",
    )
    fetch_ca_bundle: str = setting(
        "",
        str,
        "PEM file of certificate authorities trusted for downloads (empty: the certifi bundle).",
    )
    s3_endpoint_url: str = setting(
        "",
        _url("http", "https"),
        "Endpoint of an S3-compatible store (empty: AWS).",
    )
    s3_region: str = setting(
        "us-east-1",
        str,
        "Region of the bucket.",
    )
    s3_access_key_id: str = setting(
        "",
        str,
        "Access key (empty: the usual AWS credential chain).",
    )
    s3_secret_access_key: str = setting(
        "",
        str,
        "Secret key.",
        secret=True,
    )
    log_level: str = setting(
        "info",
        _log_level,
        "debug, info, warning or error.",
    )
    log_format: str = setting(
        "text",
        _log_format,
        "text, or json: one JSON object per line.",
    )
    access_log: bool = setting(
        True,
        parse_bool,
        "One log line per request (client, method, path, query with secrets removed, status,"
        " errorCode, duration, request id; in JSON also store, route and bytes).",
    )
    metrics_token: str = setting(
        "",
        str,
        "Serve Prometheus metrics at /metrics to requests bearing this token "
        "(Authorization: Bearer). Empty: /metrics is off (404).",
        secret=True,
    )

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
    def effective_dedup_uploads(self) -> bool:
        if self.dedup_uploads is None:
            return not self.files_url
        return self.dedup_uploads

    @property
    def effective_files_url(self) -> str:
        return self.files_url or self.effective_public_url

    @property
    def stored_once_files_url(self) -> str:
        """Base of the URLs of files stored once (identical uploads): vitrina
        itself when VITRINA_FILES_URL is set (a bucket or CDN there would look
        for them under their own names); "" when they are served as the rest."""
        return self.effective_public_url if self.files_url else ""

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
            elif setting.field == "dedup_uploads":
                value = self.effective_dedup_uploads
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


@dataclass(frozen=True)
class Setting:
    """One row of the table derived from ``Settings``."""

    field: str
    env: str
    parse: Callable[[str], Any]
    default: str  # as the environment would spell it
    help: str
    secret: bool = False


def _spelled(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        f.name,
        "VITRINA_" + f.name.upper(),
        f.metadata["setting"].parse,
        f.metadata["setting"].shown or _spelled(f.default),
        f.metadata["setting"].help,
        f.metadata["setting"].secret,
    )
    for f in dataclasses.fields(Settings)
)
