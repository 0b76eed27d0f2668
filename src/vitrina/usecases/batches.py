"""Batch requests (Ecwid's ``/batch``): keeping tickets, and the worker that
runs them.

A ticket's requests run in order, each through ``SubRequests`` (the web
layer runs it through the operation table, in process, exactly as the
single call), as the token that sent the batch, looked up afresh for each
request: a token revoked meanwhile stops acting at once. Runners claim
tickets by leased rows (backends/metadata/sql_batches.py), on any node,
and record each answer as it comes. A request's writes mark it applied in
their own transactions, and only while its runner's claim holds
(``RUNNING``, backends/metadata/sql_base.py). So a ticket resumes after
its last recorded answer when its worker dies, and no write is made twice:
a request not applied did nothing and runs (again); one applied but not
answered (its worker died between its commit and its answer) is answered
``REQUEST_INTERRUPTED``, since it took effect; a GET simply runs again.

A 429 (the token's rate limit, or a queue that is full) means the request
did nothing: the ticket waits for the Retry-After and sends it again,
rather than fail it. A runner gives its ticket back after a slice
(``SLICE_REQUESTS`` or ``SLICE_SECONDS``), so the stores take turns.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from vitrina import wire
from vitrina.bootstrap import Services
from vitrina.domain.batches import Answered, BatchItem, Claim, Outcome, Ticket
from vitrina.domain.errors import ClaimLost, NotFound, RequestInterrupted, Unavailable
from vitrina.usecases.leases import LeaseKeeper, hand_back, runner_name

log = logging.getLogger("vitrina.batches")

SLICE_REQUESTS = 100
SLICE_SECONDS = 2.0
SWEEP_EVERY_SECONDS = 3600.0
_RECORD_TRIES = 5  # a database briefly away while an answer waits to be recorded


class SubRequests(Protocol):
    """Runs one request of a batch and answers it exactly as the single
    call would have been answered (web/batch_calls.py)."""

    def run(self, claim: Claim, item: BatchItem) -> Answered:
        """The answer, as ``claim``'s store and token, its writes marked
        with ``Running`` (domain/batches.py); NotRun when the request could
        not be started at all."""
        ...


class NotRun(Exception):
    """The request was not handed to the API (the process is stopping): it did nothing."""


# -- what a client sends, as it will be sent -----------------------------------

# what a path and a query keep as they are; everything else is percent-encoded
# (UTF-8), as an HTTP client sends it
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def target(path: str) -> str:
    """A batch request's ``path`` (below ``/api/v3/{storeId}``, with its
    query) as an HTTP client would send it: no fragment, non-ASCII and
    spaces percent-encoded, and no ``token`` (the batch's token is used)."""
    path = path.partition("#")[0]
    route, mark, query = path.partition("?")
    kept = [p for p in query.split("&") if p and p.partition("=")[0] != "token"]
    query = quote("&".join(kept), safe=_QUERY_SAFE)
    return quote(route, safe=_PATH_SAFE) + ("?" + query if mark and query else "")


def body_bytes(body: Any) -> bytes:
    """A request's ``body``: JSON, sent as its text; a string is sent as it is
    (Ecwid documents the body as a string of JSON); none, null or "": no body."""
    if body is None or body is msgspec.UNSET:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- tickets ---------------------------------------------------------------------


def create(
    services: Services,
    store_id: int,
    token_hash: str,
    items: Sequence[BatchItem],
    stop_on_failure: bool,
    ticket: str | None = None,
) -> str:
    """Keep a new ticket; QueueFull when the store has as many open as it may."""
    return services.metadata.batches.create_ticket(
        store_id,
        token_hash,
        items,
        stop_on_failure,
        open_limit=services.batch_rules.queue_per_store,
        ticket=ticket,
    )


def get(services: Services, store_id: int, token_hash: str, ticket: str) -> Ticket:
    found = services.metadata.batches.get_ticket(store_id, token_hash, ticket)
    if found is None:
        raise NotFound(f"Batch ticket {ticket[:100]!r} not found")
    return found


def listing(
    services: Services, store_id: int, token_hash: str, status: str | None, offset: int, limit: int
) -> tuple[int, list[Ticket]]:
    return services.metadata.batches.list_tickets(store_id, token_hash, status, offset, limit)


def delete(services: Services, store_id: int, token_hash: str, ticket: str) -> int:
    return services.metadata.batches.delete_ticket(store_id, token_hash, ticket)


def prune(services: Services) -> int:
    """Delete tickets completed longer ago than the retention setting."""
    cutoff = datetime.now(UTC) - timedelta(seconds=services.batch_rules.retention_seconds)
    pruned = services.metadata.batches.prune_tickets(cutoff)
    if pruned:
        log.info("pruned %d completed batch tickets", pruned)
    return pruned


def _interrupted() -> str:
    error = RequestInterrupted()
    return msgspec.json.encode(
        wire.Error(errorMessage=error.message, errorCode=error.code)
    ).decode()


# -- running them ------------------------------------------------------------------


class BatchRunner:
    def __init__(
        self, services: Services, calls: SubRequests, stopping: threading.Event | None = None
    ) -> None:
        self.services = services
        self.calls = calls
        self.stopping = stopping or threading.Event()
        self.name = runner_name("batch-")
        self.current: Claim | None = None

    def run_once(self) -> Claim | None:
        """Claim a ticket and run a slice of it; the claim, or None when none is due."""
        rules = self.services.batch_rules
        claim = self.services.metadata.batches.claim_ticket(self.name, rules.lease_seconds)
        if claim is not None:
            self.current = claim
            try:
                extend = functools.partial(
                    self.services.metadata.batches.extend_ticket_lease, claim, rules.lease_seconds
                )
                with LeaseKeeper(extend, rules.lease_seconds, "vitrina-batch-lease"):
                    self._run(claim)
            except ClaimLost:
                log.warning(
                    "batch ticket %s: the claim was lost (deleted, or taken over)", claim.ticket
                )
            finally:
                self.current = None
        return claim

    def run_until_idle(self, limit: int = 10_000) -> int:
        done = 0
        while done < limit and self.run_once() is not None:
            done += 1
        return done

    def _run(self, claim: Claim) -> None:
        answer: Outcome | None = None
        waiting: dict[int, BatchItem] = {}
        count, until = 0, time.monotonic() + SLICE_SECONDS
        while True:
            more = (
                count < SLICE_REQUESTS and time.monotonic() < until and not self.stopping.is_set()
            )
            position = self._step(claim, answer, more)
            if position is None:
                return
            if position not in waiting:  # the slice's requests, read at once
                found = self.services.metadata.batches.items(claim, position, SLICE_REQUESTS)
                waiting = {item.position: item for item in found}
            item = waiting.pop(position)
            count += 1
            if item.applied and item.method != "GET":
                log.warning(
                    "batch ticket %s: request %d took effect under a worker that stopped before "
                    "its answer was recorded; answered REQUEST_INTERRUPTED, not run again",
                    claim.ticket,
                    item.position,
                )
                answer = Outcome(item.position, item.request_id, status=500, body=_interrupted())
                continue
            try:
                answered = self.calls.run(claim, item)
            except NotRun:
                self.services.metadata.batches.put_back(claim, 0)
                return
            if answered.retry_after is not None:  # refused before it did anything
                self.services.metadata.batches.put_back(claim, answered.retry_after)
                log.info(
                    "batch ticket %s waits %gs (429) before request %d",
                    claim.ticket,
                    answered.retry_after,
                    item.position,
                )
                return
            body = answered.body.decode("utf-8", "replace")
            answer = Outcome(item.position, item.request_id, status=answered.status, body=body)

    def _step(self, claim: Claim, answer: Outcome | None, more: bool) -> int | None:
        """One step, retried while the database is briefly away when an
        answer waits to be recorded (the request ran: its answer matters)."""
        queue, lease = self.services.metadata.batches, self.services.batch_rules.lease_seconds
        for attempt in range(_RECORD_TRIES):
            try:
                return queue.step(claim, answer, more, lease)
            except Unavailable:
                if answer is None or attempt == _RECORD_TRIES - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        return None  # not reached


class BatchWorker:
    """Runs tickets in ``VITRINA_BATCH_CONCURRENCY`` background threads until
    stopped; the first also prunes completed tickets, hourly."""

    def __init__(self, services: Services, calls: SubRequests) -> None:
        self.services = services
        rules = services.batch_rules
        self.poll = rules.poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._runners = [BatchRunner(services, calls, self._stop) for _ in range(rules.concurrency)]
        self._threads = [
            threading.Thread(target=self._loop, args=(n,), name=f"vitrina-batch-{n}", daemon=True)
            for n in range(rules.concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def wait(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def stop(self, timeout: float = 10) -> None:
        """Take no new ticket; let the requests running finish and be
        recorded for ``timeout`` seconds, then give the claims back so that
        another node resumes the tickets at once."""
        self._stop.set()
        self.wake()
        hand_back(
            self._threads,
            time.monotonic() + timeout,
            lambda: (runner.current for runner in self._runners),
            self.services.metadata.batches.release_ticket,
            lambda claim: f"batch ticket {claim.ticket}",
        )

    def _loop(self, number: int) -> None:
        runner = self._runners[number]
        next_prune = time.monotonic()
        while not self._stop.is_set():
            try:
                if number == 0 and time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + SWEEP_EVERY_SECONDS
                    prune(self.services)
                if runner.run_once() is not None:
                    continue
            except Unavailable as exc:
                log.warning("batch worker: %s", exc.message)
            except Exception:
                log.exception("batch worker: unexpected error")
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(self.poll)
