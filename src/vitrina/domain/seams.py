"""The seams, named once: what the use cases need of the back ends.

    MetadataStore   roles: StoreDirectory (stores, tokens), CatalogStore
                    (categories), ImageRecords (files, pointers), JobQueue
                    (async uploads), RequestLog, ConsoleSignIns (the
                    console's sign-in codes), BatchQueue (batch tickets)
                                                          (backends/metadata/)
    BlobStore       image files by key                   (backends/blobs/)
    ImageProcessor  sniff, check and turn bytes into variants (backends/imaging/)
    UrlFetcher      download an externalUrl under the safety rules
                                                          (backends/fetching/)
    VersionCheck    a store's catalog version, awaited   (backends/metadata/)

All are synchronous but the version check; the web layer calls them in
worker threads. Back ends raise only errors from ``vitrina.domain.errors``.
Writes return their ``Consequences``, which vitrina.usecases.consequences
carries out after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from vitrina.domain.batches import BatchItem, Claim, Outcome, Ticket
from vitrina.domain.values import (
    App,
    AppChanges,
    Attempt,
    BlobEntry,
    CatalogChanges,
    Category,
    CategoryChanges,
    Consequences,
    Delivery,
    EncodedFile,
    Grant,
    ImageHeader,
    Job,
    NewToken,
    ProcessedImage,
    RequestRecord,
    Serving,
    SignIn,
    Store,
    StoredFile,
    TableDump,
    TokenInfo,
)


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
    became unreferenced. Images made from the same ``source`` (a digest of
    the uploaded bytes and of how they are processed) in one store show the
    same files, kept while any image shows them."""

    def allocate_file_ids(self, count: int) -> list[int]: ...
    def attach_image(
        self,
        store_id: int,
        category_id: int,
        image_id: int,
        files: Sequence[StoredFile],
        border: Mapping[str, Any],
        source: str | None = None,
    ) -> Consequences | None:
        """Point the category at a new ready image; None when the category is
        gone. When the store has files of ``source`` already (an identical
        upload committed meanwhile), the image shows those, and ``files``
        are orphans."""
        ...

    def share_image(
        self, store_id: int, category_id: int, image_id: int, source: str
    ) -> Consequences | None:
        """Point the category at a new image showing the files the store
        has of ``source``; None, changing nothing, when it has none (or the
        category is gone): the upload is then processed."""
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
        self,
        job: Job,
        files: Sequence[StoredFile],
        border: Mapping[str, Any],
        source: str | None = None,
    ) -> Consequences:
        """The job's image shows ``files`` (or, as ``attach_image``, the
        store's files of ``source``)."""
        ...

    def share_job(self, job: Job, source: str) -> Consequences | None:
        """As ``share_image``, for the job's pending image."""
        ...

    def fail_job(self, job: Job, reason: str, retry_in: float | None) -> Consequences: ...
    def cancel_jobs(self, image_ids: Sequence[int]) -> int:
        """Cancel the queued or running jobs of these images (they were
        replaced or deleted: nothing waits for them); how many."""
        ...

    def job_wanted(self, job: Job) -> bool:
        """Whether the claim still holds and something waits for the job."""
        ...

    def extend_lease(self, job: Job, lease_seconds: int) -> bool:
        """Keep the claim ``job`` holds for ``lease_seconds`` more; False when
        it no longer holds (a newer claim runs the job)."""
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


class AppStore(Protocol):
    """A store's apps. Each write returns its Consequences (an install or an
    uninstall is an event for the app itself)."""

    def create_app(
        self, store_id: int, name: str, client_id: str, client_secret: str, changes: AppChanges
    ) -> tuple[App, Consequences]: ...
    def list_apps(self, store_id: int) -> list[App]: ...
    def get_app(self, store_id: int, app_id: int) -> App | None: ...
    def find_app(self, client_id: str) -> App | None:
        """The app with this client id, in any store."""
        ...

    def update_app(self, store_id: int, app_id: int, changes: AppChanges) -> App | None: ...
    def delete_app(self, store_id: int, app_id: int) -> Consequences | None:
        """Delete the app, its tokens and its undelivered events; None when
        there is no such app."""
        ...


class AppInstalls(Protocol):
    """Installing apps by OAuth: authorization codes (kept as hashes, good
    once, for a few minutes), the tokens exchanged for them, uninstalls,
    and the short-lived tokens of native-app pages."""

    def grant_code(
        self,
        store_id: int,
        app_id: int,
        code_hash: str,
        scopes: frozenset[str],
        redirect_uri: str,
        expires_at: datetime,
    ) -> Consequences | None:
        """The owner pressed Install: in one transaction keep the code, mark
        the app installed and record ``application.installed``; drop codes
        long expired. None when there is no such app."""
        ...

    def redeem_code(
        self,
        app_id: int,
        code_hash: str,
        redirect_uri: str,
        secret: NewToken,
        public: NewToken,
        at: datetime,
    ) -> Grant:
        """In one transaction: check the code (this app's, unused, unexpired
        at ``at``, the same redirect URI), mark it used and add the secret
        token with the code's scopes (and the public one when they hold
        ``public_storefront``), both issued to the app from this code. A code
        used before: "used", and the tokens issued from it are revoked."""
        ...

    def uninstall(self, store_id: int, app_id: int) -> Consequences | None:
        """Revoke the app's tokens, drop its unused codes, mark it not
        installed and record ``application.uninstalled``, in one
        transaction; the app stays. None when there is no such installed app."""
        ...

    def add_page_tokens(
        self,
        store_id: int,
        app_id: int,
        issued: Sequence[tuple[NewToken, str, frozenset[str]]],
        expires_at: datetime,
    ) -> bool:
        """Add tokens (each with its kind and scopes) issued to the app that
        expire at ``expires_at``, if the app is installed now (checked in the
        same transaction); whether they were added."""
        ...


class WebhookQueue(Protocol):
    """The outbox's deliveries, sent by leased rows: one worker at a time per
    delivery, a worker that dies loses only its lease."""

    def claim_deliveries(
        self, worker: str, lease_seconds: int, most: int
    ) -> tuple[App, list[Delivery]] | None:
        """Up to ``most`` due deliveries of one app, oldest first, leased to
        ``worker`` in one transaction; apps take turns, and an app has at
        most four claims out at once. None when nothing is due."""
        ...

    def finish_attempts(
        self, made: Sequence[tuple[Delivery, Attempt, bool]], unsent: Sequence[Delivery] = ()
    ) -> list[bool]:
        """In one transaction, record the attempts of deliveries claimed
        together: each delivered (its flag), or due again at the attempt's
        ``next_at``, or failed for good (neither); and give back ``unsent``,
        claimed but never sent, their attempt not counted. For each
        attempt, whether its claim still held: when a newer claim holds
        the delivery, the attempt is recorded and the outcome is the newer
        claim's."""
        ...

    def release_delivery(self, delivery: Delivery) -> None:
        """Give a claim back at once (shutting down)."""
        ...

    def replay(self, store_id: int, delivery_id: int) -> Delivery | None:
        """A new delivery of the same event to the same app, due now."""
        ...

    def send_test(self, store_id: int, app_id: int, category_id: int) -> Delivery | None:
        """A ``category.updated`` event for ``category_id``, for this app
        alone, due now; None when the app has no webhook URL."""
        ...

    def list_deliveries(
        self, store_id: int, app_id: int | None = None, limit: int = 100, before: int = 0
    ) -> list[Delivery]:
        """Newest first; ``before``: only ids below it (paging)."""
        ...

    def get_delivery(self, store_id: int, delivery_id: int) -> Delivery | None: ...
    def attempts(self, store_id: int, delivery_id: int) -> list[Attempt]:
        """Oldest first."""
        ...

    def webhook_counts(self) -> tuple[dict[str, int], float]:
        """Deliveries by state, and the age in seconds of the oldest pending one."""
        ...

    def prune_webhooks(self, finished_before: datetime) -> int:
        """Delete deliveries finished before then, with their attempts and
        events nothing else needs; how many deliveries."""
        ...


class BatchQueue(Protocol):
    """Batch tickets (domain/batches.py), run by leased rows: one worker at a
    time per ticket, its requests in order, each answer recorded as it
    comes; a ticket is seen only by the token that sent it."""

    def create_ticket(
        self,
        store_id: int,
        token_hash: str,
        items: Sequence[BatchItem],
        stop_on_failure: bool,
        open_limit: int = 0,
        ticket: str | None = None,
    ) -> str:
        """Keep a new ticket (a random one unless given); QueueFull when the
        store already has ``open_limit`` open tickets (0: no limit)."""
        ...

    def claim_ticket(self, worker: str, lease_seconds: int) -> Claim | None:
        """The next ticket to run (stores take turns), leased to ``worker``."""
        ...

    def step(
        self, claim: Claim, answer: Outcome | None, more: bool, lease_seconds: int
    ) -> int | None:
        """In one transaction, while the claim holds (ClaimLost otherwise):
        record ``answer`` (with stopOnFirstFailure, a failure skips the
        rest), finish the ticket when nothing is left, and unless ``more``
        is False renew the lease and name the next request to run (None:
        the ticket is done, or was given back)."""
        ...

    def items(self, claim: Claim, start: int, count: int) -> list[BatchItem]:
        """Up to ``count`` waiting requests from ``start`` on, in order, each
        saying whether a write of it was applied."""
        ...

    def put_back(self, claim: Claim, due_in: float) -> None:
        """The next request did nothing (it was refused before it ran): give
        the ticket back until ``due_in`` seconds have passed."""
        ...

    def extend_ticket_lease(self, claim: Claim, lease_seconds: int) -> bool: ...
    def release_ticket(self, claim: Claim) -> None:
        """Give a claim back at once (shutting down)."""
        ...

    def get_ticket(self, store_id: int, token_hash: str, ticket: str) -> Ticket | None:
        """The ticket with the outcomes so far, in order."""
        ...

    def list_tickets(
        self, store_id: int, token_hash: str, status: str | None, offset: int, limit: int
    ) -> tuple[int, list[Ticket]]:
        """The total matching ``status`` (a wire status; None: all), and a
        page of them, oldest first."""
        ...

    def delete_ticket(self, store_id: int, token_hash: str, ticket: str) -> int:
        """Delete a ticket, stopping what it has not yet run; how many (1 or 0)."""
        ...

    def prune_tickets(self, finished_before: datetime) -> int:
        """Delete tickets finished before then; how many."""
        ...


class MetadataStore(Protocol):
    """The metadata database: its roles, composed; and its dump."""

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
    @property
    def apps(self) -> AppStore: ...
    @property
    def webhooks(self) -> WebhookQueue: ...
    @property
    def batches(self) -> BatchQueue: ...
    @property
    def installs(self) -> AppInstalls: ...
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

    def render(
        self,
        source: Path,
        width: int,
        height: int,
        fmt: str | None,
        stored: bytes | None = None,
    ) -> EncodedFile:
        """A rendition of the original ``source``, fitted to ``width`` x
        ``height``: in ``fmt`` (avif, webp) when that is no larger than the
        stored format's bytes (``stored``, or encoded here as a variant
        would be) and as close to the source pixels; else in that format."""
        ...


class UrlFetcher(Protocol):
    def check_url(self, url: str) -> object:
        """Refuse, without any network traffic, a URL whose form is not allowed."""
        ...

    def fetch(self, url: str, destination: Path, max_bytes: int) -> None:
        """Download ``url`` into ``destination``, refusing unsafe targets."""
        ...
