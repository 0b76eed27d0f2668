"""The values vitrina's layers exchange: stores, tokens, categories and the
changes a write makes to one, images and their files, jobs, the request log's
records; no behaviour beyond describing themselves. The seams that pass them
are in ``vitrina.domain.seams``."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

SCOPES = ("read_catalog", "create_catalog", "update_catalog")

# The four files of one upload, in the order their ids are allocated.
ROLES = ("original", "thumbnail", "hd", "image")


@dataclass(frozen=True)
class Store:
    id: int
    name: str
    storefront_url: str
    thumbnail_size: int = 400
    image_size: int = 1200
    languages: tuple[str, ...] = ("en",)  # enabled; the first is the default

    @property
    def default_language(self) -> str:
        return self.languages[0]


@dataclass(frozen=True)
class TokenInfo:
    id: int
    store_id: int
    kind: str  # "secret" or "public"
    scopes: frozenset[str]
    hint: str  # the first characters, for telling tokens apart in listings
    created_at: datetime
    revoked: bool = False
    expires_at: datetime | None = None  # a console session's; long-lived tokens have none


@dataclass(frozen=True)
class SignIn:
    """What redeeming a console sign-in code did: ``outcome`` is "ok" (then
    ``token`` is the new session's), "used", "expired" or "unknown"."""

    outcome: str
    token: TokenInfo | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file of an upload, served under its own id. Its bytes are stored
    under its own key, or, for an upload of bytes its store already had,
    under the key of the file ``blob_id`` (stored once, docs/images.md)."""

    id: int
    role: str
    ext: str
    content_type: str
    width: int
    height: int
    size: int
    etag: str
    blob_id: int | None = None

    @property
    def blob(self) -> int:
        """The id whose key holds the bytes."""
        return self.id if self.blob_id is None else self.blob_id


@dataclass(frozen=True)
class Image:
    """A category's image: four stored files, or, while an async upload waits,
    the caller's URL and dimensions."""

    id: int
    store_id: int
    files: tuple[StoredFile, ...] = ()
    border: Mapping[str, Any] | None = None
    pending_url: str | None = None
    pending_width: int = 0
    pending_height: int = 0

    def file(self, role: str) -> StoredFile:
        return next(f for f in self.files if f.role == role)


@dataclass(frozen=True)
class Category:
    id: int
    store_id: int
    parent_id: int | None
    order_by: int
    name: str
    name_translated: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    description_translated: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    product_ids: tuple[int, ...] = ()
    custom_slug: str = ""
    seo_title: str = ""
    seo_title_translated: Mapping[str, str] = field(default_factory=dict)
    seo_description: str = ""
    seo_description_translated: Mapping[str, str] = field(default_factory=dict)
    alt_main: str = ""
    alt_translated: Mapping[str, str] = field(default_factory=dict)
    image_external_id: str | None = None
    image: Image | None = None
    version: int = 0  # the store's catalog version of the last write that touched it


class Keep(enum.Enum):
    """A field a write leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, kw_only=True)
class CategoryChanges:
    """The fields of a category a write sets; the rest are ``KEEP``. A new
    category takes defaults for those (its name is required). Texts and maps
    are replaced whole; ``parent_id`` None is the root."""

    name: str | Keep = KEEP
    parent_id: int | Keep | None = KEEP
    order_by: int | Keep = KEEP
    name_translated: Mapping[str, str] | Keep = KEEP
    description: str | Keep = KEEP
    description_translated: Mapping[str, str] | Keep = KEEP
    enabled: bool | Keep = KEEP
    product_ids: tuple[int, ...] | Keep = KEEP
    custom_slug: str | Keep = KEEP
    seo_title: str | Keep = KEEP
    seo_title_translated: Mapping[str, str] | Keep = KEEP
    seo_description: str | Keep = KEEP
    seo_description_translated: Mapping[str, str] | Keep = KEEP
    alt_main: str | Keep = KEEP
    alt_translated: Mapping[str, str] | Keep = KEEP

    def given(self) -> dict[str, Any]:
        """The fields this write sets, by name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not KEEP
        }


@dataclass(frozen=True)
class Job:
    id: int
    store_id: int
    category_id: int
    image_id: int
    url: str
    attempts: int
    state: str  # queued, running, done, failed, cancelled
    last_error: str = ""
    request_id: str = ""  # of the request that started it, for its log lines
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One API request to a store, as the request log keeps it: no token, no
    Authorization header, no body."""

    store_id: int
    at: datetime
    method: str
    path: str
    query: str  # without token=
    status: int
    duration_ms: float
    error_code: str = ""
    id: int = 0  # given by the log


@dataclass(frozen=True)
class BlobEntry:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class ImageHeader:
    """What the header says, read once by ``probe`` (before any decode)."""

    format: str  # jpeg, png, gif, webp, avif, heif
    width: int  # as stored (orientation not applied)
    height: int
    orientation: int = 1  # EXIF, 1 to 8
    cmyk: bool = False  # CMYK or YCCK pixels

    @property
    def shown(self) -> tuple[int, int]:
        """Width and height as a viewer that applies the orientation shows them."""
        if self.orientation >= 5:  # turned by a quarter
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class EncodedFile:
    """A file ready to store: its bytes, or a scratch file of the processor's
    on disk (large originals), which the consumer takes (``BlobStore.place``
    may move it). ``size`` and ``etag`` were computed in the pass that wrote
    it: nothing reads a file again to describe it."""

    role: str
    data: bytes | Path
    ext: str
    content_type: str
    width: int
    height: int
    size: int
    etag: str  # naming.etag of the bytes


@dataclass(frozen=True)
class ProcessedImage:
    files: tuple[EncodedFile, ...]  # in ROLES order
    border: Mapping[str, Any]
    temporary: tuple[Path, ...] = ()  # scratch files the caller removes when done


@dataclass(frozen=True)
class CatalogChanges:
    """Categories written since a catalog version, and ids deleted since; or,
    when ``complete``, the whole catalogue."""

    categories: Sequence[Category]
    deleted: Sequence[int] = ()
    complete: bool = False


REQUESTS_KEPT = 1000  # per store, in the request log


@dataclass(frozen=True)
class TableDump:
    """What a metadata dump holds besides its rows (for export and import)."""

    revision: str
    counts: Mapping[str, int]  # rows per table
    counters: Mapping[str, int]  # the last id handed out per table
    file_keys: tuple[str, ...]  # every blob the rows point at


@dataclass(frozen=True)
class Serving:
    """How a blob can be served, as its store answers (``BlobStore.serving``):
    from ``path``, its file on this machine's disk (local storage); by a
    redirect to ``url``, which anyone may GET for ``seconds`` (a bucket told
    to redirect: a presigned URL); or, with neither, by streaming
    ``BlobStore.read`` (a bucket told not to)."""

    path: Path | None = None
    url: str = ""
    seconds: int = 0


# Ecwid's webhook event types for categories (what a change is)
CREATED, UPDATED, DELETED = "category.created", "category.updated", "category.deleted"


@dataclass(frozen=True)
class Change:
    """A category the commit created, updated (its image too) or deleted."""

    event: str  # CREATED, UPDATED or DELETED
    store_id: int
    category_id: int


@dataclass
class Consequences:
    orphans: list[str] = field(default_factory=list)  # blob keys: delete
    abandoned: list[int] = field(default_factory=list)  # image ids: cancel their jobs
    changes: list[Change] = field(default_factory=list)

    @property
    def stores(self) -> set[int]:
        """The stores whose catalogs the commit changed."""
        return {change.store_id for change in self.changes}

    def changed(self, event: str, store_id: int, *category_ids: int) -> None:
        self.changes.extend(Change(event, store_id, c) for c in category_ids)

    def __iadd__(self, other: Consequences) -> Consequences:
        self.orphans += other.orphans
        self.abandoned += other.abandoned
        self.changes += other.changes
        return self


# -- apps and webhooks --------------------------------------------------------

APPLICATION_INSTALLED, APPLICATION_UNINSTALLED = (
    "application.installed",
    "application.uninstalled",
)
EVENT_TYPES = (CREATED, UPDATED, DELETED, APPLICATION_INSTALLED, APPLICATION_UNINSTALLED)


@dataclass(frozen=True)
class App:
    """An app of a store: who it is to OAuth (``client_id``, the secret that
    also signs its webhooks and keys its native-app payloads), what it may
    do (``scopes``), and where its webhooks go (``events``: the types it
    asked for; empty, every one its scopes let it see)."""

    id: int
    store_id: int
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: frozenset[str] = frozenset()
    webhook_url: str = ""
    events: tuple[str, ...] = ()
    redirect_uri: str = ""
    iframe_url: str = ""
    created_at: datetime | None = None
    # when it was last installed (created, or installed by OAuth); None:
    # uninstalled, so it has no working token and no native-app page
    installed_at: datetime | None = None


@dataclass(frozen=True)
class NewToken:
    """A token about to be kept: its SHA-256 hash and its first characters
    (the hint listings show); the token itself is never handed to a store."""

    token_hash: str
    hint: str


@dataclass(frozen=True)
class Grant:
    """What exchanging an OAuth code did: ``outcome`` is "ok" (the tokens
    were added, with ``scopes``, for ``store_id``), "unknown" (no such code
    of this app), "used" (exchanged before: ``revoked`` tokens issued from it
    were revoked now), "expired", or "redirect" (another redirect URI than
    the authorize request's)."""

    outcome: str
    store_id: int = 0
    scopes: frozenset[str] = frozenset()
    revoked: int = 0


@dataclass(frozen=True, kw_only=True)
class AppChanges:
    """The fields of an app a write sets; the rest are ``KEEP``."""

    name: str | Keep = KEEP
    scopes: frozenset[str] | Keep = KEEP
    webhook_url: str | Keep = KEEP
    events: tuple[str, ...] | Keep = KEEP
    redirect_uri: str | Keep = KEEP
    iframe_url: str | Keep = KEEP

    def given(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not KEEP
        }


@dataclass(frozen=True)
class WebhookEvent:
    """What happened, as the outbox holds it: Ecwid's ``eventId``,
    ``eventCreated`` (unix seconds), ``storeId``, ``entityId``, ``eventType``."""

    id: int
    event_id: str
    store_id: int
    entity_id: int
    event_type: str
    created: int


@dataclass(frozen=True)
class Delivery:
    """One event for one app: ``pending`` (due at ``due_at``), ``sending``
    (leased to a worker), ``delivered``, or ``failed`` (out of attempts)."""

    id: int
    event: WebhookEvent
    app_id: int
    store_id: int
    state: str
    attempts: int
    due_at: datetime
    last_status: int | None = None
    last_error: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery, as sent and as answered (the delivery log).
    ``status`` None: no answer (refused, timed out); ``next_at``: when the
    next try is due, None when there is none."""

    delivery_id: int
    number: int
    at: datetime
    status: int | None
    duration_ms: float
    error: str
    response: str  # the first 2 KiB of the answer's body
    request_headers: Mapping[str, str]
    request_body: str
    next_at: datetime | None = None
    id: int = 0


@dataclass(frozen=True)
class PostAnswer:
    """A receiver's answer to a POST: its status, headers and the first
    bytes of its body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
