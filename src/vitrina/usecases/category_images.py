"""Image use cases: upload, replace, delete, async upload, and the sweep.

The upload, as data: probe (sniff, header, pixel budget) -> one decode into
all files -> new ids -> files written under them (nothing points at them yet)
-> one transaction points the category at them -> the replaced files go.
A crash anywhere leaves at most unreferenced files, which ``sweep`` removes.

Identical uploads are stored once per store: the upload's bytes and how
they are processed give its ``source_digest``; when the store already has
files made from it, the new image gets files of its own over their bytes
(``share_image``), and nothing is decoded or written. The metadata store
decides, one writer per store at a time, whether those bytes are still
stored (sql_images.py); when they are not any more, the upload is
processed as any other.

Each byte of a file is written once: the original by the processor, into the
blob store's scratch folder where there is one, then moved under its key by
a rename (``BlobStore.place``); the variants from memory. Sizes and ETags
come with the files, computed as they were written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vitrina import logs, metrics
from vitrina.bootstrap import Services
from vitrina.domain.errors import CategoryNotFound, ClaimLost
from vitrina.domain.naming import file_key, image_id
from vitrina.domain.renditions import file_key_of
from vitrina.domain.tree import CategoryTree
from vitrina.domain.values import (
    ROLES,
    CategoryChanges,
    Consequences,
    EncodedFile,
    ProcessedImage,
    Store,
    StoredFile,
)
from vitrina.usecases.consequences import follow

log = logging.getLogger("vitrina.images")


def _stored(ids: Sequence[int], processed: ProcessedImage) -> list[StoredFile]:
    return [
        StoredFile(
            id=file_id,
            role=f.role,
            ext=f.ext,
            content_type=f.content_type,
            width=f.width,
            height=f.height,
            size=f.size,
            etag=f.etag,
        )
        for file_id, f in zip(ids, processed.files, strict=True)
    ]


# Bumped when processing makes other files of the same bytes: an upload
# then gets files of its own instead of those made before.
PROCESSING = 1


def source_digest(store: Store, keep_original: bool, source: Path) -> str:
    """What an upload's files are made from: its bytes and how they are
    processed (the store's sizes, whether the original is kept as
    uploaded). The same digest in a store means the same four files."""
    recipe = f"vitrina {PROCESSING} {store.thumbnail_size} {store.image_size} {keep_original:d}\n"
    digest = hashlib.sha256(recipe.encode())
    with source.open("rb") as stream:
        hashlib.file_digest(stream, lambda: digest)
    return digest.hexdigest()


def upload_digest(services: Services, store: Store, source: Path) -> str | None:
    """The upload's source digest; None when identical uploads are not shared."""
    if not services.uploads.dedup:
        return None
    with metrics.stage("digest"):
        return source_digest(store, services.uploads.keep_original, source)


def share(
    services: Services, source: Path, attach: Callable[[], Consequences | None]
) -> Consequences | None:
    """Show the files the store has of the upload's digest (``attach`` does,
    in the metadata store), after the same header checks a processed upload gets
    (the same bytes are answered the same way, whatever was uploaded
    before); None when the store has none."""
    with metrics.stage("probe"):
        services.processor.probe(source)
    with metrics.stage("commit"):
        done = attach()
    if done is not None:
        metrics.uploads_shared.inc()
    return done


def process(
    services: Services,
    store: Store,
    source: Path,
    wait_always: bool = False,
    on_original: Callable[[EncodedFile], None] | None = None,
    scratch: Path | None = None,
) -> ProcessedImage:
    """Check and process ``source``, writing files to disk in ``scratch``
    (default: beside ``source``); the caller removes ``.temporary`` when done.

    The decode waits for a slot of the decode budget; when too many uploads
    wait already, ``Overloaded`` (503) is raised, unless ``wait_always``."""
    with metrics.stage("probe"):
        header = services.processor.probe(source)
    with services.decode_budget.slot(wait_always=wait_always), metrics.stage("decode_fit"):
        return services.processor.process(
            source,
            header,
            store.thumbnail_size,
            store.image_size,
            services.uploads.keep_original,
            on_original,
            scratch,
        )


def _remove_scratch(processed: ProcessedImage) -> None:
    for path in processed.temporary:
        path.unlink(missing_ok=True)


# Threads that write files, shared by every upload of the process.
_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="vitrina-write")


class _Writes:
    """The puts of one upload's files (ROLES order, under ``ids``), each
    started as soon as its file is ready: the original's while the variants
    are still being made. On an object store a put is a round trip, and the
    original's (megabytes) is the longest. A file on disk is a scratch file
    of the processor's: it is placed (moved, on local disk), not copied."""

    def __init__(
        self,
        services: Services,
        store_id: int,
        ids: Sequence[int],
        held: Callable[[], bool] | None = None,
    ) -> None:
        self.services = services
        self.store_id = store_id
        self.ids = ids
        self.held = held  # an async job's claim: its keys are the job's, not new ones
        self.started: dict[int, tuple[str, Future[None]]] = {}

    def start(self, index: int, encoded: EncodedFile) -> None:
        if index not in self.started:
            if self.held is not None and not self.held():
                raise ClaimLost()  # a newer claim writes these keys: do not touch them
            key = file_key(self.store_id, self.ids[index], encoded.ext)
            blobs, data = self.services.blobs, encoded.data
            if isinstance(data, Path):
                put = _WRITERS.submit(blobs.place, key, data, encoded.content_type)
            else:
                put = _WRITERS.submit(blobs.put, key, data, encoded.content_type)
            self.started[index] = key, put

    def finish(self) -> None:
        """Wait for every put; raise the first one's error."""
        failed = [error for _, put in self.started.values() if (error := put.exception())]
        if failed:
            raise failed[0]

    def abandon(self) -> None:
        """After a failure: wait for what was started, and remove it."""
        for _, put in self.started.values():
            put.exception()  # waits; its error, if any, is the caller's to report
        if self.held is not None and not self.held():
            return  # the keys are a newer claim's now: what is under them is its own
        follow(self.services, Consequences(orphans=[key for key, _ in self.started.values()]))


def process_and_write(
    services: Services,
    store: Store,
    source: Path,
    ids: Sequence[int],
    wait_always: bool = False,
    held: Callable[[], bool] | None = None,
) -> tuple[ProcessedImage, list[StoredFile]]:
    """Process ``source`` and store its four files under ``ids``; nothing
    points at them yet. Scratch files are removed (or were moved into place).
    ``held``: for an async job, whether its claim still holds; each file is
    stored only while it does, and none is removed once it does not."""
    writes = _Writes(services, store.id, ids, held)
    processed: ProcessedImage | None = None
    try:
        # where the original can be written so that storing it is a rename
        scratch = services.blobs.scratch_folder(file_key(store.id, ids[0], ""))
        processed = process(
            services, store, source, wait_always, lambda f: writes.start(0, f), scratch
        )
        stored = _stored(ids, processed)
        with metrics.stage("store"):  # what is left to wait for once the files are made
            for index, encoded in enumerate(processed.files):
                writes.start(index, encoded)
            writes.finish()
    except BaseException:
        writes.abandon()  # whatever was stored: nothing will point at it
        raise
    finally:
        if processed is not None:
            _remove_scratch(processed)
    metrics.upload_bytes.labels("out").inc(sum(f.size for f in stored))
    return processed, stored


def check_category(
    services: Services, store_id: int, category_id: int, tree: CategoryTree | None = None
) -> None:
    """Refuse (404) an upload to a category that does not exist, before its
    body is read. ``tree``: the store's current category tree, as the web
    layer's catalog cache holds it (read on the thread that owns it): then no
    query is made. Without it, the category is read from the database.
    Either way the commit checks again (a category deleted meanwhile)."""
    if tree is not None:
        found = category_id in tree.by_id
    else:
        found = services.metadata.catalog.get_category(store_id, category_id) is not None
    if not found:
        raise CategoryNotFound(category_id)


def upload(
    services: Services, store: Store, category_id: int, source: Path
) -> tuple[int, Consequences]:
    """Make the image in ``source`` the category's image; its image id."""
    records = services.metadata.images
    ids = records.allocate_file_ids(len(ROLES))
    digest = upload_digest(services, store, source)
    if digest is not None:
        shared = share(
            services,
            source,
            lambda: records.share_image(store.id, category_id, image_id(ids), digest),
        )
        if shared is not None:
            follow(services, shared)
            return image_id(ids), shared
    processed, stored = process_and_write(services, store, source, ids)
    own = Consequences(orphans=[file_key(store.id, f.id, f.ext) for f in stored])
    try:
        with metrics.stage("commit"):
            done = records.attach_image(
                store.id, category_id, image_id(ids), stored, processed.border, digest
            )
    except BaseException:
        follow(services, own)  # nothing points at them
        raise
    if done is None:
        follow(services, own)
        raise CategoryNotFound(category_id)
    follow(services, done)
    return image_id(ids), done


def delete(services: Services, store_id: int, category_id: int) -> tuple[int, Consequences]:
    """Remove the category's image; how many it had (1 or 0)."""
    done = services.metadata.images.detach_image(store_id, category_id)
    if done is None:
        raise CategoryNotFound(category_id)
    follow(services, done)
    return (1 if done.changes else 0), done


def start_async(
    services: Services,
    store: Store,
    category_id: int,
    url: str,
    width: int,
    height: int,
    external_id: str | None,
    alt: CategoryChanges | None,
) -> tuple[int, Consequences]:
    """Point the category at ``url`` now and download it in the background;
    the new image's id."""
    services.fetcher.check_url(url)
    ids = services.metadata.images.allocate_file_ids(len(ROLES))
    done = services.metadata.jobs.start_async_image(
        store.id, category_id, image_id(ids), url, width, height, external_id, alt,
        logs.request_id.get(), services.uploads.job_queue_per_store,
    )  # fmt: skip
    if done is None:
        raise CategoryNotFound(category_id)
    follow(services, done)
    return image_id(ids), done


def download(services: Services, url: str, folder: str | None = None) -> Path:
    """Fetch ``url`` into a new temporary file; the caller removes it."""
    fd, name = tempfile.mkstemp(prefix="vitrina-", suffix=".download", dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        services.fetcher.fetch(url, path, services.uploads.max_image_bytes)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def prune_jobs(services: Services) -> int:
    """Delete async-upload jobs finished longer ago than the retention period."""
    retention = timedelta(seconds=services.uploads.job_retention_seconds)
    pruned = services.metadata.jobs.prune_jobs(datetime.now(UTC) - retention)
    if pruned:
        log.info("pruned %d finished async upload jobs", pruned)
    return pruned


def sweep(services: Services, grace_seconds: int) -> int:
    """Delete files that no image points at and that are older than the grace
    period (younger ones may belong to an upload still in flight); a
    rendition goes with its file (it is kept while its file is referenced)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    removed = 0
    batch: list[str] = []

    def flush() -> int:
        referenced = services.metadata.images.referenced_keys(list({file_key_of(k) for k in batch}))
        doomed = [k for k in batch if file_key_of(k) not in referenced]
        services.blobs.delete(doomed)
        batch.clear()
        return len(doomed)

    for entry in services.blobs.list():
        if entry.modified <= cutoff:
            batch.append(entry.key)
            if len(batch) >= 500:
                removed += flush()
    if batch:
        removed += flush()
    if removed:
        log.info("sweep removed %d unreferenced files", removed)
    return removed
