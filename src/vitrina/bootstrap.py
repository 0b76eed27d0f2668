"""Compose once: build every service from settings. Tests pass their own
``Services`` to ``create_app``; nothing below reads the environment."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from vitrina import __version__
from vitrina.backends.blobs.local import LocalBlobStore
from vitrina.backends.fetching.guarded import FetchPolicy, GuardedFetcher
from vitrina.backends.imaging.vips import VipsProcessor
from vitrina.backends.metadata.engine import create_engine
from vitrina.backends.metadata.local_versions import LocalVersions
from vitrina.backends.metadata.sql import SqlMetadataStore
from vitrina.domain.errors import StorageUnavailable
from vitrina.domain.seams import BlobStore, ImageProcessor, MetadataStore, UrlFetcher, VersionCheck
from vitrina.settings import Settings
from vitrina.usecases.decode_budget import DecodeBudget

VERSION = __version__  # for the use cases, which do not import the package's top


@dataclass(frozen=True)
class UploadRules:
    """What the image use cases need to know of the settings."""

    keep_original: bool  # store the original exactly as uploaded
    max_image_bytes: int  # the most a download may bring
    job_queue_per_store: int  # async uploads a store may have waiting (0: any)
    job_retention_seconds: int  # how long a finished job is kept
    dedup: bool = True  # identical uploads in a store store their bytes once


@dataclass(frozen=True)
class DeliveryRules:
    """What serving image files needs to know of the settings."""

    formats: tuple[str, ...]  # served instead of the stored one when accepted, preferred first
    widths: tuple[int, ...]  # ?width= allowed


@dataclass(frozen=True)
class JobRules:
    """What the async-upload worker needs to know of the settings."""

    lease_seconds: int  # a claim's lease: longer than a download may take
    max_attempts: int
    poll_seconds: float
    concurrency: int  # jobs run at once by one worker
    gc_grace_seconds: int  # files younger than this are not swept


@dataclass(frozen=True)
class WebhookRules:
    """What the webhook sender needs to know of the settings."""

    retry_delays: tuple[float, ...]  # seconds between attempts; empty: Ecwid's schedule
    concurrency: int  # deliveries sent at once by one worker
    poll_seconds: float
    lease_seconds: int  # a claim's lease: longer than an attempt may take
    retention_seconds: int  # how long a finished delivery is kept


@dataclass(frozen=True)
class BatchRules:
    """What batch requests need to know of the settings."""

    concurrency: int  # tickets run at once by one worker
    queue_per_store: int  # open tickets a store may have (0: any)
    lease_seconds: int  # a claim's lease, renewed every third of it
    poll_seconds: float
    retention_seconds: int  # how long a completed ticket is kept


@dataclass
class Services:
    settings: Settings
    metadata: MetadataStore
    blobs: BlobStore
    processor: ImageProcessor
    fetcher: UrlFetcher
    engine: sa.Engine | None = None
    decode_budget: DecodeBudget = field(init=False)
    # where webhooks may go (tests give their own, as they do the fetcher)
    webhook_guard: GuardedFetcher = field(init=False)

    def __post_init__(self) -> None:
        self.decode_budget = build_decode_budget(self.settings)
        self.webhook_guard = GuardedFetcher(webhook_policy(self.settings))

    # Use cases read these, not the whole Settings (derived on each read, so
    # a test that replaces the settings changes them too).
    @property
    def uploads(self) -> UploadRules:
        s = self.settings
        return UploadRules(
            s.keep_original,
            s.max_image_bytes,
            s.job_queue_per_store,
            s.job_retention_seconds,
            s.effective_dedup_uploads,
        )

    @property
    def delivery(self) -> DeliveryRules:
        return DeliveryRules(self.settings.image_formats, self.settings.image_widths)

    @property
    def job_rules(self) -> JobRules:
        s = self.settings
        return JobRules(
            lease_seconds=max(s.job_lease_seconds, int(s.fetch_total_timeout) + 30),
            max_attempts=s.job_max_attempts,
            poll_seconds=s.job_poll_seconds,
            concurrency=max(1, s.job_concurrency),
            gc_grace_seconds=s.gc_grace_seconds,
        )

    @property
    def webhook_rules(self) -> WebhookRules:
        s = self.settings
        policy = self.webhook_guard.policy
        return WebhookRules(
            retry_delays=s.webhook_retry_seconds,
            concurrency=max(1, s.webhook_concurrency),
            poll_seconds=s.job_poll_seconds,
            # an attempt: the host's lookup, the connection and the answer
            # (the policy's deadline), two short writes; a minute covers it
            lease_seconds=max(60, int(policy.total_timeout) + 50),
            retention_seconds=s.webhook_retention_seconds,
        )

    @property
    def batch_rules(self) -> BatchRules:
        s = self.settings
        return BatchRules(
            concurrency=max(1, s.batch_concurrency),
            queue_per_store=s.batch_queue_per_store,
            lease_seconds=s.batch_lease_seconds,
            poll_seconds=s.job_poll_seconds,
            retention_seconds=s.batch_retention_seconds,
        )

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.metadata.close()
        if self.engine is not None:
            self.engine.dispose()


def build_blob_store(settings: Settings) -> BlobStore:
    url = settings.effective_storage_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobStore(Path(parts.path))
    if parts.scheme == "s3":
        from vitrina.backends.blobs.s3 import S3BlobStore

        # /images/... redirects to the bucket, unless files are streamed through
        # vitrina (VITRINA_FILES_REDIRECT=false) or image URLs point elsewhere
        # (VITRINA_FILES_URL: what still comes to /images/... is streamed)
        redirect = settings.files_redirect and not settings.files_url
        return S3BlobStore.connect(
            url,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            redirect_seconds=settings.files_redirect_seconds if redirect else 0,
        )
    raise StorageUnavailable(f"Unsupported storage URL {url!r}")


def build_decode_budget(settings: Settings) -> DecodeBudget:
    return DecodeBudget(settings.effective_decode_concurrency, settings.decode_queue)


def fetch_policy(settings: Settings, **overrides: Any) -> FetchPolicy:
    """The download rules the settings ask for (``overrides`` win: tests pass
    their own resolver)."""
    values: dict[str, Any] = {
        "allow_http": settings.fetch_allow_http,
        "allowed_networks": tuple(ipaddress.ip_network(n) for n in settings.fetch_allow_networks),
        "extra_ports": frozenset(settings.fetch_ports),
        "connect_timeout": settings.fetch_connect_timeout,
        "total_timeout": settings.fetch_total_timeout,
        "max_redirects": settings.fetch_max_redirects,
        "ca_bundle": settings.fetch_ca_bundle,
        **overrides,
    }
    return FetchPolicy(**values)


def build_fetcher(settings: Settings) -> UrlFetcher:
    return GuardedFetcher(fetch_policy(settings))


def webhook_policy(settings: Settings, **overrides: Any) -> FetchPolicy:
    """Where webhooks may go: the download guard's rules (public addresses,
    checked at every connection), https unless VITRINA_WEBHOOK_ALLOW_HTTP,
    any port, no redirects, 3 s to connect and 10 s for the whole answer."""
    values: dict[str, Any] = {
        "allow_http": settings.webhook_allow_http,
        "allowed_networks": tuple(ipaddress.ip_network(n) for n in settings.webhook_allow_networks),
        "connect_timeout": 3.0,
        "total_timeout": 10.0,
        "max_redirects": 0,
        "ca_bundle": settings.fetch_ca_bundle,
        "any_port": True,
        **overrides,
    }
    return FetchPolicy(**values)


def build_version_check(services: Services) -> VersionCheck:
    """The read cache's version check: a local point read on SQLite, the
    coalesced round trip on PostgreSQL (made lazily, in the event loop that
    first awaits it)."""
    engine = services.engine
    if engine is None:
        raise ValueError("The version check needs the metadata database's engine")
    if engine.dialect.name == "sqlite":
        return LocalVersions(engine)
    from vitrina.backends.metadata.async_versions import AsyncVersions

    return AsyncVersions(engine.url)


def build_services(settings: Settings) -> Services:
    """Every service, from settings. The schema is not touched: `vitrina
    serve` and `vitrina migrate` upgrade it (``metadata.migrate``)."""
    engine = create_engine(settings.effective_database_url)
    return Services(
        settings=settings,
        metadata=SqlMetadataStore(engine),
        blobs=build_blob_store(settings),
        processor=VipsProcessor(max_pixels=settings.max_image_pixels),
        fetcher=build_fetcher(settings),
        engine=engine,
    )
