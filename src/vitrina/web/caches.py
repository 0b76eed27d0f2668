"""Read caches that never serve stale data.

- Categories: each store's tree is kept with the store's catalog version; a
  read asks the database for the version (one small query) and, when a
  write in any process has changed it, patches the tree with the
  categories written since (their rows carry the version that wrote them)
  and the ids deleted since: the cost of a write's aftermath does not grow
  with the store.
- Rendered answers: a category's JSON, kept per catalog version, so a read
  of an unchanged category costs no rendering. Capped by bytes, least
  recently used first out; answers over a size are never kept.
- Tokens: a looked-up token is remembered for ``TOKEN_TTL`` seconds, so a
  revocation reaches every process within that time (docs/security.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.concurrency import run_in_threadpool

from vitrina.catalog import CategoryTree
from vitrina.interfaces import MetadataStore, Store, TokenInfo

TOKEN_TTL = 2.0


class CatalogCache:
    def __init__(self, metadata: MetadataStore, stores: int = 256) -> None:
        self.metadata = metadata
        self.stores = stores
        self._entries: OrderedDict[int, tuple[int, CategoryTree]] = OrderedDict()
        self._lock = threading.Lock()

    async def current(self, store_id: int) -> tuple[int, CategoryTree]:
        """The store's catalog version and its tree. Where the version check is
        a local point read (SQLite), it runs right here: it takes less than a
        thread hop."""
        with self._lock:
            known = self._entries.get(store_id)
        if (
            known is not None
            and self.metadata.catalog.local_reads
            and self.metadata.catalog.catalog_version(store_id) == known[0]
        ):
            return known
        return await run_in_threadpool(self.tree, store_id)

    def tree(self, store_id: int) -> tuple[int, CategoryTree]:
        """The store's version and tree (blocking: call it in a worker thread).
        A tree this process has is patched with what changed since; only a
        store never seen (or changed beyond what the database keeps) is
        loaded whole."""
        with self._lock:
            known = self._entries.get(store_id)
        version, changes = self.metadata.catalog.catalog_snapshot(
            store_id, known[0] if known else None
        )
        if changes is None:
            if known is not None:
                return known
            tree = CategoryTree([])
        elif changes.complete or known is None:
            tree = CategoryTree(changes.categories)
        else:
            tree = known[1].patched(changes.categories, changes.deleted)
        with self._lock:
            current = self._entries.get(store_id)
            if current is None or current[0] < version:
                self._entries[store_id] = (version, tree)
            self._entries.move_to_end(store_id)
            while len(self._entries) > self.stores:
                self._entries.popitem(last=False)
        return version, tree


class RenderedAnswers:
    """Bodies rendered for a (store, catalog version, request) key, at most
    ``capacity`` bytes in all; a body over ``largest`` bytes is not kept."""

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


class TokenCache:
    def __init__(self, entries: int = 10_000) -> None:
        self.entries = entries
        self._found: dict[str, tuple[float, TokenInfo, Store]] = {}

    def get(self, token_hash: str) -> tuple[TokenInfo, Store] | None:
        hit = self._found.get(token_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1], hit[2]

    def put(self, token_hash: str, info: TokenInfo, store: Store) -> None:
        if len(self._found) >= self.entries:
            self._found.clear()
        self._found[token_hash] = (time.monotonic() + TOKEN_TTL, info, store)
