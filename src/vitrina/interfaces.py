"""The four seams, named once, and the values they exchange.

    MetadataStore   roles: StoreDirectory (stores, tokens), CatalogStore
                    (categories), ImageRecords (files, pointers), JobQueue
                    (async uploads), RequestLog, ConsoleSignIns (the
                    console's sign-in codes)                        (metadata/)
    BlobStore       image files by key                             (blobs/)
    ImageProcessor  sniff, check and turn bytes into variants       (imaging/)
    UrlFetcher      download an externalUrl under the safety rules  (fetching/)

All are synchronous; the web layer calls them in worker threads. Back ends
raise only errors from ``vitrina.errors``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vitrina.consequences import Consequences

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
    id: int
    role: str
    ext: str
    content_type: str
    width: int
    height: int
    size: int
    etag: str


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


class StoreDirectory(Protocol):
    """Stores and their API tokens."""

    def create_store(
        self,
        name: str,
        storefront_url: str,
        thumbnail_size: int = 400,
        image_size: int = 1200,
        languages: tuple[str, ...] = ("en",),
    ) -> Store: ...
    def get_store(self, store_id: int) -> Store | None: ...
    def list_stores(self) -> list[Store]: ...
    def add_token(
        self, store_id: int, token_hash: str, kind: str, scopes: frozenset[str], hint: str
    ) -> TokenInfo: ...
    def find_token(self, token_hash: str) -> TokenInfo | None: ...
    def revoke_token(self, token_hash: str) -> bool: ...
    def list_tokens(self, store_id: int) -> list[TokenInfo]: ...
    def count_request(self, token_hash: str, window: int) -> int:
        """Count one request of a token in a one-minute window, for every
        process at once (VITRINA_RATE_LIMIT_SHARED); the count so far."""
        ...


class ConsoleSignIns(Protocol):
    """The console's sign-in codes: single-use, short-lived, kept as hashes;
    each is exchanged once for a session token that expires."""

    def add_code(
        self, store_id: int, code_hash: str, scopes: frozenset[str], expires_at: datetime
    ) -> None:
        """Keep a new code; drop session tokens past their expiry, and codes
        of no more use (a day after their expiry, once their session is gone)."""
        ...

    def redeem_code(
        self, store_id: int, code_hash: str, token_hash: str, hint: str, token_expires_at: datetime
    ) -> SignIn:
        """In one transaction: check that the code is this store's, unused and
        unexpired; mark it used and add a secret session token with its
        scopes. A code used before: "used", and the session it made is revoked.
        A code of another store is "unknown" and stays unused."""
        ...


@dataclass(frozen=True)
class CatalogChanges:
    """Categories written since a catalog version, and ids deleted since; or,
    when ``complete``, the whole catalogue."""

    categories: Sequence[Category]
    deleted: Sequence[int] = ()
    complete: bool = False


class VersionCheck(Protocol):
    """A store's catalog version, awaited on the event loop: a point read of
    a local file (SQLite), or a round trip shared by the reads that wait
    together (PostgreSQL). Built by bootstrap, used by the read cache."""

    async def version(self, store_id: int) -> int | None: ...
    async def aclose(self) -> None: ...


class CatalogStore(Protocol):
    """Categories. Every write bumps the store's catalog version."""

    def list_categories(self, store_id: int) -> list[Category]: ...
    def get_category(self, store_id: int, category_id: int) -> Category | None: ...
    def catalog_snapshot(
        self, store_id: int, known_version: int | None
    ) -> tuple[int, CatalogChanges | None]:
        """The store's version, and what changed since ``known_version``: None
        when nothing did, the whole catalogue when the caller has none (or
        one too old to patch), else only the categories written since and
        the ids deleted since."""
        ...

    def create_category(self, store_id: int, changes: CategoryChanges) -> tuple[int, Consequences]:
        """A new category (404 for a parent that does not exist); its id."""
        ...

    def create_categories(
        self, store_id: int, rows: Sequence[CategoryChanges]
    ) -> tuple[list[int], Consequences]:
        """Many categories in one transaction (imports, tests); parents must
        exist or come earlier in ``rows`` by id."""
        ...

    def update_category(
        self, store_id: int, category_id: int, changes: CategoryChanges
    ) -> Consequences | None:
        """None when there is no such category; 400 for a move under itself."""
        ...

    def delete_category(self, store_id: int, category_id: int) -> Consequences | None:
        """Delete a category and its subtree, their images too; None when
        there is no such category."""
        ...


class ImageRecords(Protocol):
    """Image files and category pointers: ids first, files next, then one
    transaction swaps the pointer; its Consequences name the files that just
    became unreferenced."""

    def allocate_file_ids(self, count: int) -> list[int]: ...
    def attach_image(
        self,
        store_id: int,
        category_id: int,
        image_id: int,
        files: Sequence[StoredFile],
        border: Mapping[str, Any],
    ) -> Consequences | None:
        """Point the category at a new ready image; None when the category is gone."""
        ...

    def detach_image(self, store_id: int, category_id: int) -> Consequences | None:
        """Remove the category's image (no change recorded when it had none);
        None when the category is gone."""
        ...

    def find_file(self, store_id: int, file_id: int) -> StoredFile | None: ...
    def referenced_keys(self, keys: Sequence[str]) -> set[str]: ...


class JobQueue(Protocol):
    """Async uploads: a pending image and its job, claimed with a lease."""

    def start_async_image(
        self,
        store_id: int,
        category_id: int,
        image_id: int,
        url: str,
        width: int,
        height: int,
        external_id: str | None,
        alt: CategoryChanges | None,
        request_id: str = "",
        waiting_limit: int = 0,
    ) -> Consequences | None:
        """Point the category at a pending image and queue its job (``alt``:
        the alt texts it sets); None when the category does not exist;
        QueueFull when the store already has ``waiting_limit`` jobs queued or
        running (0: no limit)."""
        ...

    def claim_job(self, worker: str, lease_seconds: int) -> Job | None: ...
    def finish_job(
        self, job: Job, files: Sequence[StoredFile], border: Mapping[str, Any]
    ) -> Consequences: ...
    def fail_job(self, job: Job, reason: str, retry_in: float | None) -> Consequences: ...
    def cancel_jobs(self, image_ids: Sequence[int]) -> int:
        """Cancel the queued or running jobs of these images (they were
        replaced or deleted: nothing waits for them); how many."""
        ...

    def job_wanted(self, job: Job) -> bool:
        """Whether the claim still holds and something waits for the job."""
        ...

    def list_jobs(
        self,
        state: str | None = None,
        limit: int = 100,
        store_id: int | None = None,
        image_id: int | None = None,
    ) -> list[Job]:
        """Newest first."""
        ...

    def prune_jobs(self, finished_before: datetime) -> int:
        """Delete jobs that finished before then; how many."""
        ...

    def release_job(self, job: Job) -> None:
        """Give up a claim at once (shutting down), so another worker takes
        the job without waiting for the lease to run out."""
        ...

    def job_counts(self) -> tuple[dict[str, int], float]:
        """Jobs by state, and the age in seconds of the oldest queued one (0: none)."""
        ...


REQUESTS_KEPT = 1000  # per store, in the request log


class RequestLog(Protocol):
    """The last REQUESTS_KEPT requests to each store, newest first."""

    def record(self, entries: Sequence[RequestRecord]) -> None:
        """Keep ``entries`` of stores that exist; drop each store's oldest past
        REQUESTS_KEPT."""
        ...

    def recent(
        self,
        store_id: int,
        limit: int = 100,
        after_id: int = 0,
        status_class: int | None = None,
        path_contains: str = "",
    ) -> list[RequestRecord]:
        """Newest first; ``status_class`` 2 means 2xx; ``after_id`` for polling."""
        ...


@dataclass(frozen=True)
class TableDump:
    """What a metadata dump holds besides its rows (for export and import)."""

    revision: str
    counts: Mapping[str, int]  # rows per table
    counters: Mapping[str, int]  # the last id handed out per table
    file_keys: tuple[str, ...]  # every blob the rows point at


class MetadataStore(Protocol):
    """The metadata database: its six roles, composed; and its dump."""

    @property
    def stores(self) -> StoreDirectory: ...
    @property
    def catalog(self) -> CatalogStore: ...
    @property
    def images(self) -> ImageRecords: ...
    @property
    def jobs(self) -> JobQueue: ...
    @property
    def requests(self) -> RequestLog: ...
    @property
    def signins(self) -> ConsoleSignIns: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...
    def schema_revision(self) -> str: ...
    def dump(self, folder: Path) -> TableDump:
        """Write every row under ``folder`` in one consistent snapshot."""
        ...

    def check_dump(self, dump: TableDump) -> None:
        """Refuse (BadRequest) a dump this database could not load: another
        schema revision, other tables, unknown counters. Writes nothing."""
        ...

    def load(self, folder: Path, dump: TableDump) -> None:
        """Load a dump into this empty database, ids and counters included."""
        ...


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


class BlobStore(Protocol):
    def ping(self) -> None: ...
    def put(self, key: str, data: bytes | Path, content_type: str) -> None:
        """Write atomically: readers see the whole file or nothing. A file at
        ``data`` stays the caller's."""
        ...

    def scratch_folder(self, key: str) -> Path | None:
        """An existing folder where a file meant for ``key`` (extension not
        needed) can be written so that ``place`` moves it with a rename; None
        where placing is an upload anyway (a bucket)."""
        ...

    def place(self, key: str, path: Path, content_type: str) -> None:
        """Store the scratch file ``path`` under ``key``, atomically as ``put``
        does, and take it: renamed into place where it is on the store's file
        system, else copied (or uploaded) and removed. Once this returns,
        ``path`` is gone; if it raises, ``path`` is the caller's to remove."""
        ...

    def serving(self, key: str) -> Serving:
        """How the blob can be served, decided without a network call or a
        look at whether it exists (opening the path, following the URL or
        reading finds that out); NotFound for a key outside the store."""
        ...

    def read(self, key: str) -> Iterator[bytes]: ...
    def delete(self, keys: Sequence[str]) -> None: ...
    def list(self) -> Iterator[BlobEntry]: ...


class ImageProcessor(Protocol):
    def probe(self, source: Path) -> ImageHeader: ...
    def process(
        self,
        source: Path,
        header: ImageHeader,
        thumbnail_size: int,
        image_size: int,
        keep_original: bool,
        on_original: Callable[[EncodedFile], None] | None = None,
        scratch: Path | None = None,
    ) -> ProcessedImage:
        """The four files; ``on_original`` is handed the original as soon as
        it is final, before the variants are made (so it can be stored meanwhile).
        Files written to disk go in ``scratch`` (default: beside ``source``)."""
        ...


class UrlFetcher(Protocol):
    def check_url(self, url: str) -> object:
        """Refuse, without any network traffic, a URL whose form is not allowed."""
        ...

    def fetch(self, url: str, destination: Path, max_bytes: int) -> None:
        """Download ``url`` into ``destination``, refusing unsafe targets."""
        ...
