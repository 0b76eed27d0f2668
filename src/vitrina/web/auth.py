"""Who is calling: the token from ``Authorization: Bearer`` or ``?token=``,
checked against the store in the path, its scopes, and the rate limit.

Tokens are looked up by their SHA-256 hash, so a lookup reveals nothing an
attacker could use to guess a token byte by byte. A console session's token
expires: it is refused from that moment, cached or not.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from vitrina import metrics
from vitrina.domain.errors import InsufficientScope, InvalidToken, RateLimited
from vitrina.domain.seams import MetadataStore
from vitrina.domain.values import Store, TokenInfo
from vitrina.settings import Settings
from vitrina.usecases.tokens import token_hash
from vitrina.web.caches import TokenCache
from vitrina.web.category_json import View
from vitrina.web.params import query_text


@dataclass(frozen=True)
class Caller:
    """Who a token says is calling; one per cached token lookup, so what is
    derived from it alone (``views``) is kept here and reused."""

    store: Store
    token: TokenInfo
    expires: float = math.inf  # time.time() at which the token stops working
    key: str = ""  # the token's hash: what the rate limit counts by
    # the view of a read with no query string, by whether it shows productIds
    views: dict[bool, View] = field(default_factory=dict, compare=False, repr=False)

    @property
    def public(self) -> bool:
        return self.token.kind == "public"


class RateLimiter:
    """Fixed one-minute windows per token, counted in this process. With N
    server processes each allows 1/N of the limit (see docs/deployment.md)."""

    def __init__(self, per_minute: int, processes: int = 1) -> None:
        self.limit = math.ceil(per_minute / processes) if per_minute else 0
        self.clock = time.time
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, now: float | None = None) -> None:
        if not self.limit:
            return
        now = self.clock() if now is None else now
        window = int(now // 60)
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count > self.limit:
            metrics.rate_limited.inc()
            raise RateLimited(max(1, math.ceil((window + 1) * 60 - now)))


def bearer_token(request: Request, allow_query: bool) -> str | None:
    for name, header in request.scope["headers"]:  # names come lower-cased (ASGI)
        if name == b"authorization":
            text: str = header.decode("latin-1")
            scheme, _, value = text.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip()
            break
    if allow_query:
        return query_text(request, "token") or None
    return None


class Authenticator:
    def __init__(self, metadata: MetadataStore, settings: Settings) -> None:
        self.metadata = metadata
        self.allow_query = settings.allow_query_token
        self.tokens: TokenCache[Caller] = TokenCache()
        # tokens found to be unknown, for as long: a client that keeps
        # sending a wrong token costs no database lookup per request
        self.unknown: TokenCache[bool] = TokenCache()
        self._lookups: dict[str, asyncio.Future[Caller | None]] = {}
        self._hashes: dict[str, str] = {}
        self.limiter = RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_processes or settings.workers
        )
        self.shared = settings.rate_limit_shared
        self.shared_limit = settings.rate_limit_per_minute

    def _hash(self, token: str) -> str:
        """The token's SHA-256, remembered: hashing is a tenth of a cached
        read's cost, and a busy app sends the same token every time."""
        if len(self._hashes) >= 10_000:
            self._hashes.clear()
        hashed = self._hashes[token] = token_hash(token)
        return hashed

    def _lookup(self, hashed: str) -> Caller | None:
        info = self.metadata.stores.find_token(hashed)
        if info is None or info.revoked:
            self.unknown.put(hashed, True)
            return None
        expires = info.expires_at.timestamp() if info.expires_at is not None else math.inf
        if expires <= time.time():
            self.unknown.put(hashed, True)
            return None
        store = self.metadata.stores.get_store(info.store_id)
        if store is None:
            return None
        caller = Caller(store=store, token=info, expires=expires, key=hashed)
        self.tokens.put(hashed, caller)
        return caller

    def fresh(self, hashed: str) -> Caller | None:
        """The caller a token's hash names, looked up now, past the cache
        (blocking): a batch's requests stop as soon as their token is
        revoked, in whichever process that happened."""
        return self._lookup(hashed)

    async def _lookup_once(self, hashed: str) -> Caller | None:
        """The lookup, shared by every request that misses the cache for the
        same token meanwhile: when a busy token's entry expires, dozens of
        requests in flight would otherwise each take a thread and a connection."""
        pending = self._lookups.get(hashed)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(self._lookup, hashed))
            self._lookups[hashed] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(hashed, None))
        # shielded: a request that gives up leaves the lookup to the others
        return await asyncio.shield(pending)

    async def require(self, request: Request, store_id: int, scope: str | None) -> Caller:
        """The caller whose token the request carries, admitted to the store
        for ``scope`` (None: any valid token of the store)."""
        token = bearer_token(request, self.allow_query)
        if not token or len(token) > 200:
            raise InvalidToken()
        hashed = self._hashes.get(token) or self._hash(token)
        if self.unknown.get(hashed):
            raise InvalidToken()
        caller = self.tokens.get(hashed) or await self._lookup_once(hashed)
        if caller is None:
            raise InvalidToken()
        return await self.admit(request, caller, store_id, scope)

    async def admit(
        self, request: Request, caller: Caller, store_id: int, scope: str | None
    ) -> Caller:
        """``caller`` if its token may do ``scope`` in the store now, counted
        by the rate limit (also for calls made in process, without a token
        in the request: batch requests)."""
        if caller.store.id != store_id or caller.expires <= time.time():
            raise InvalidToken()
        # the request log records this request in this store's log (observe.py)
        request.state.store_id = store_id
        if scope is not None and scope not in caller.token.scopes:
            raise InsufficientScope(scope)
        if self.shared and self.limiter.limit:
            await self._shared_hit(caller.key)
        else:
            self.limiter.hit(caller.key)
        return caller

    async def _shared_hit(self, hashed: str) -> None:
        """The exact limit, counted in the database for every process."""
        now = time.time()
        window = int(now // 60)
        count = await run_in_threadpool(self.metadata.stores.count_request, hashed, window)
        if count > self.shared_limit:
            metrics.rate_limited.inc()
            raise RateLimited(max(1, math.ceil((window + 1) * 60 - now)))
