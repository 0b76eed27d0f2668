"""Read caches that never serve stale data.

- Categories: each store's tree is kept with the store's catalog version; a
  read asks the database for the version (one small query) and, when a
  write in any process has changed it, patches the tree with the
  categories written since (their rows carry the version that wrote them)
  and the ids deleted since: the cost of a write's aftermath does not grow
  with the store.
- Rendered answers: a category's JSON, kept per category version and tree
  shape (web/categories.py), so a read of an unchanged category costs no
  rendering, even after writes to other categories; a search's or a
  categoriesByPath answer, kept per catalog version (any write to the store
  retires it). Capped by bytes, least recently used first out; answers over
  a size are never kept.
- Image files streamed from a bucket: the bytes of small ones, by file id
  (immutable); a request still reads the file's record, so a deleted file
  is a 404 at once.
- Tokens: a looked-up token is remembered for ``TOKEN_TTL`` seconds, so a
  revocation reaches every process within that time (docs/security.md); a
  console session's expiry travels with it and is checked on every request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from vitrina.domain.seams import MetadataStore, VersionCheck
from vitrina.domain.tree import CategoryTree
from vitrina.domain.values import CatalogChanges

TOKEN_TTL = 2.0
T = TypeVar("T")


class CatalogCache:
    """Trees are read and patched on the event loop's thread only (handlers
    use a tree without awaiting in between). A known tree is checked with
    ``versions`` (bootstrap builds it for the database); what changed is read
    in a worker thread."""

    def __init__(self, metadata: MetadataStore, versions: VersionCheck, stores: int = 256) -> None:
        self.metadata = metadata
        self.versions = versions
        self.stores = stores
        self._entries: OrderedDict[int, tuple[int, CategoryTree]] = OrderedDict()

    async def current(self, store_id: int) -> tuple[int, CategoryTree]:
        """The store's catalog version and its tree: one awaited version check
        when the tree is known and current; otherwise what changed since, read
        in a worker thread."""
        known = self._entries.get(store_id)
        if known is not None and await self.versions.version(store_id) == known[0]:
            return known
        version, changes = await run_in_threadpool(
            self.metadata.catalog.catalog_snapshot, store_id, known[0] if known else None
        )
        return self._apply(store_id, version, changes)

    async def refresh(self, store_id: int) -> None:
        """After this process wrote to the store: patch its tree now, so the
        next read (the storefront's, usually) finds it current. A store this
        process has not read is left alone."""
        known = self._entries.get(store_id)
        if known is not None:
            changes = await run_in_threadpool(
                self.metadata.catalog.catalog_snapshot, store_id, known[0]
            )
            self._apply(store_id, *changes)

    def tree(self, store_id: int) -> tuple[int, CategoryTree]:
        """The same, blocking, for callers without an event loop (tests, tools)."""
        known = self._entries.get(store_id)
        version, changes = self.metadata.catalog.catalog_snapshot(
            store_id, known[0] if known else None
        )
        return self._apply(store_id, version, changes)

    def _apply(
        self, store_id: int, version: int, changes: CatalogChanges | None
    ) -> tuple[int, CategoryTree]:
        known = self._entries.get(store_id)
        if known is not None and (changes is None or known[0] >= version):
            return known  # nothing new, or another read already applied newer changes
        if changes is None:
            entry = (version, CategoryTree([]))
        elif changes.complete or known is None:
            entry = (version, CategoryTree(changes.categories))
        else:
            known[1].patch(changes.categories, changes.deleted)
            entry = (version, known[1])
        self._entries[store_id] = entry
        self._entries.move_to_end(store_id)
        while len(self._entries) > self.stores:
            self._entries.popitem(last=False)
        return entry


class BytesCache:
    """Bodies kept by key, at most ``capacity`` bytes in all, least recently
    used first out; a body over ``largest`` bytes is not kept. Rendered
    answers (keyed by what they were rendered from) and, when files live in
    a bucket, the bytes of hot image files (keyed by file id: a file's
    content never changes)."""

    def __init__(self, capacity: int, largest: int) -> None:
        self.capacity = capacity
        self.largest = largest
        self.size = 0
        self._bodies: OrderedDict[object, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: object, body: bytes) -> None:
        if len(body) > self.largest or self.capacity <= 0:
            return
        with self._lock:
            old = self._bodies.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._bodies[key] = body
            self.size += len(body)
            while self.size > self.capacity:
                _, evicted = self._bodies.popitem(last=False)
                self.size -= len(evicted)


class TokenCache(Generic[T]):
    """What a token hash was found to mean, for ``TOKEN_TTL`` seconds."""

    def __init__(self, entries: int = 10_000) -> None:
        self.entries = entries
        self._found: dict[str, tuple[float, T]] = {}

    def get(self, token_hash: str) -> T | None:
        hit = self._found.get(token_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, token_hash: str, found: T) -> None:
        if len(self._found) >= self.entries:
            self._found.clear()
        self._found[token_hash] = (time.monotonic() + TOKEN_TTL, found)
