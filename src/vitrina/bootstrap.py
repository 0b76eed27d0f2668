"""Compose once: build every service from settings. Tests pass their own
``Services`` to ``create_app``; nothing below reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from vitrina.blobs.local import LocalBlobStore
from vitrina.decode_budget import DecodeBudget
from vitrina.errors import StorageUnavailable
from vitrina.fetching.guarded import FetchPolicy, GuardedFetcher
from vitrina.imaging.vips import VipsProcessor
from vitrina.interfaces import BlobStore, ImageProcessor, MetadataStore, UrlFetcher
from vitrina.metadata.engine import create_engine
from vitrina.metadata.sql_images import SqlMetadataStore
from vitrina.settings import Settings


@dataclass
class Services:
    settings: Settings
    metadata: MetadataStore
    blobs: BlobStore
    processor: ImageProcessor
    fetcher: UrlFetcher
    engine: sa.Engine | None = None
    decode_budget: DecodeBudget = field(init=False)

    def __post_init__(self) -> None:
        self.decode_budget = build_decode_budget(self.settings)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self.metadata, "close", None)
        if close is not None:
            close()
        if self.engine is not None:
            self.engine.dispose()


def build_blob_store(settings: Settings) -> BlobStore:
    url = settings.effective_storage_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalBlobStore(Path(parts.path))
    if parts.scheme == "s3":
        from vitrina.blobs.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    raise StorageUnavailable(f"Unsupported storage URL {url!r}")


def build_decode_budget(settings: Settings) -> DecodeBudget:
    return DecodeBudget(settings.effective_decode_concurrency, settings.decode_queue)


def build_fetcher(settings: Settings) -> UrlFetcher:
    return GuardedFetcher(FetchPolicy.from_settings(settings))


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
