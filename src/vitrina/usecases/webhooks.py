"""Sending webhooks, as Ecwid sends them, from the outbox's deliveries.

A runner claims a due delivery (a leased row: backends/metadata/sql_webhooks.py),
builds Ecwid's request and POSTs it through the webhook guard, which checks
the URL, resolves the host and judges every address it has at every attempt,
and connects to the address it checked. The attempt is recorded, as sent and
as answered, by ``finish_attempt``: delivered, due again later, or given up.

The request, exactly:

- body ``{"eventId", "eventCreated", "storeId", "entityId", "eventType"}``
  in that order, compact JSON, no ``data`` (category and app events carry none);
- ``Content-Type: application/json; charset=UTF-8``;
- ``X-Ecwid-Webhook-Signature``: base64 of HMAC-SHA256, keyed with the app's
  client secret, over ``"{eventCreated}.{eventId}"``.

Success is 200, 201, 202, 204 or 209. Anything else fails the attempt:
another status (a redirect is never followed), a refused URL or address, no
connection within 3 s, no complete answer within 10 s. A failed attempt is
retried on Ecwid's schedule (``ECWID_DELAYS``) or VITRINA_WEBHOOK_RETRY_SECONDS'
list, then given up. Delivery is at least once: a worker killed after the
receiver answered but before the outcome was written sends it again once its
lease runs out, and apps dedupe by ``eventId``.

``WebhookWorker`` runs a few runners in threads (``vitrina serve``'s worker
and ``vitrina worker``: usecases/upload_jobs.py starts it beside the
async-upload threads). Concurrency is across receivers: the claim lets apps
take turns and keeps any one app to four deliveries in flight, so a slow or
dead receiver holds up at most its own. Each thread keeps its connections
alive per receiver (the guard's ``KeptConnections``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vitrina import metrics
from vitrina.bootstrap import VERSION, Services, WebhookRules
from vitrina.domain.errors import DownloadFailed, TimedOut, Unavailable, WrongUrl
from vitrina.domain.values import App, Attempt, Delivery, PostAnswer, WebhookEvent
from vitrina.usecases.leases import hand_back, runner_name

log = logging.getLogger("vitrina.webhooks")

SUCCESS = frozenset({200, 201, 202, 204, 209})
ANSWER_KEPT = 2048  # bytes of a receiver's answer kept in the delivery log
USER_AGENT = f"vitrina/{VERSION} (webhooks)"

# Ecwid's schedule: "15 min, 30 min, 45 min, 1 h, 2 h, and so on, up to 27
# attempts within 24 hours". Read as the waits *between* attempts it cannot
# fit: 15 + 30 + 45 + 60 + 120 minutes already take 4.5 hours, and 21 more
# waits of 2 hours or longer would take 42. Read as when the retries happen,
# counted from the first attempt, it fits: 15 min, 30 min, 45 min, 1 h,
# 2 h, then every hour, 3 h ... 23 h. That is 26 retries (5 + 21), so 27
# attempts, the last 23 hours after the first, inside the 24. The waits
# between them are 15, 15, 15, 15, 60, 60, ... minutes. Each wait is counted
# from the end of the attempt before it, so a schedule of attempts that
# each ran into the 10 s deadline ends at most 26 x 10 s later: still
# within 24 hours.
_RETRIES_AT_MINUTES = (15, 30, 45, 60, 120, *range(180, 23 * 60 + 1, 60))
ECWID_DELAYS: tuple[float, ...] = tuple(
    60.0 * (later - earlier) for earlier, later in itertools.pairwise((0, *_RETRIES_AT_MINUTES))
)


def retry_delays(rules: WebhookRules) -> tuple[float, ...]:
    """The waits between attempts: VITRINA_WEBHOOK_RETRY_SECONDS, or Ecwid's."""
    return rules.retry_delays or ECWID_DELAYS


def signature(client_secret: str, event_created: int, event_id: str) -> str:
    """``X-Ecwid-Webhook-Signature``."""
    signed = f"{event_created}.{event_id}".encode()
    digest = hmac.new(client_secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def payload(event: WebhookEvent) -> bytes:
    """The request's body, its keys in Ecwid's order."""
    fields = {
        "eventId": event.event_id,
        "eventCreated": event.created,
        "storeId": event.store_id,
        "entityId": event.entity_id,
        "eventType": event.event_type,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def request_headers(app: App, event: WebhookEvent) -> list[tuple[str, str]]:
    """The headers vitrina chooses (the guard adds ``Host`` before them and
    ``Content-Length`` after)."""
    return [
        ("Content-Type", "application/json; charset=UTF-8"),
        ("X-Ecwid-Webhook-Signature", signature(app.client_secret, event.created, event.event_id)),
        ("User-Agent", USER_AGENT),
    ]


@dataclass(frozen=True)
class _Outcome:
    status: int | None
    error: str
    response: str
    sent_headers: tuple[tuple[str, str], ...]
    result: str  # the attempts metric's label
    retry: bool = True  # worth another attempt

    @property
    def delivered(self) -> bool:
        return self.status in SUCCESS


def _answered(answer: PostAnswer, sent: tuple[tuple[str, str], ...]) -> _Outcome:
    response = answer.body.decode("utf-8", "replace")
    status = answer.status
    if status in SUCCESS:
        return _Outcome(status, "", response, sent, "success")
    error = f"HTTP {status}"
    if 300 <= status < 400:
        location = next((v for k, v in answer.headers if k.lower() == "location"), "")
        error += ": redirects are not followed" + (
            f" (Location: {location[:300]})" if location else ""
        )
    return _Outcome(status, error, response, sent, "status")


class WebhookRunner:
    """Claims deliveries and sends them, one at a time, over its own kept-alive
    connections (a runner belongs to one thread)."""

    def __init__(self, services: Services, lease_seconds: int | None = None) -> None:
        self.services = services
        self.name = runner_name("webhooks-")
        self.lease_seconds = lease_seconds or services.webhook_rules.lease_seconds
        self.current: Delivery | None = None
        self.connections = services.webhook_guard.kept_connections()

    def run_once(self) -> Delivery | None:
        """Claim and send one delivery; the delivery as claimed, or None when
        none is due."""
        claimed = self.services.metadata.webhooks.claim_delivery(self.name, self.lease_seconds)
        if claimed is None:
            return None
        delivery, app = claimed
        self.current = delivery
        try:
            self.send(delivery, app)
        finally:
            self.current = None
        return delivery

    def run_until_idle(self, limit: int = 1000) -> int:
        done = 0
        while done < limit and self.run_once() is not None:
            done += 1
        return done

    def close(self) -> None:
        self.connections.close()

    def send(self, delivery: Delivery, app: App) -> bool:
        """Make the attempt ``delivery`` was claimed for and record it;
        whether the receiver took it."""
        event = delivery.event
        body = payload(event)
        at = datetime.now(UTC)
        started = time.perf_counter()
        outcome = self._post(app, event, body)
        duration = time.perf_counter() - started
        delays = retry_delays(self.services.webhook_rules)
        retry_at = None
        if not outcome.delivered and outcome.retry and delivery.attempts <= len(delays):
            retry_at = datetime.now(UTC) + timedelta(seconds=delays[delivery.attempts - 1])
        attempt = Attempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            at=at,
            status=outcome.status,
            duration_ms=round(duration * 1000, 3),
            error=outcome.error,
            response=outcome.response,
            request_headers=dict(outcome.sent_headers),
            request_body=body.decode(),
            next_at=retry_at,
        )
        metrics.webhook_attempts.labels(outcome.result).inc()
        if outcome.status is not None:
            metrics.webhook_receiver_seconds.observe(duration)
        try:
            held = self.services.metadata.webhooks.finish_attempt(
                delivery, attempt, outcome.delivered, retry_at
            )
        except Unavailable as exc:
            log.warning(
                "webhook delivery %d: the attempt could not be recorded (%s); "
                "it is sent again when its lease runs out",
                delivery.id,
                exc.message,
            )
            return outcome.delivered
        if not held:
            log.info(
                "webhook delivery %d was claimed again meanwhile: its outcome is the newer claim's",
                delivery.id,
            )
            return outcome.delivered
        self._count(delivery, app, outcome, retry_at)
        return outcome.delivered

    def _count(
        self, delivery: Delivery, app: App, outcome: _Outcome, retry_at: datetime | None
    ) -> None:
        if outcome.delivered:
            metrics.webhook_deliveries.labels("delivered").inc()
            log.debug("webhook delivery %d to app %d: HTTP %s", delivery.id, app.id, outcome.status)
            return
        metrics.webhook_deliveries.labels("retrying" if retry_at else "failed").inc()
        log.info(
            "webhook delivery %d (%s of entity %d) to app %d, attempt %d: %s; %s",
            delivery.id,
            delivery.event.event_type,
            delivery.event.entity_id,
            app.id,
            delivery.attempts,
            outcome.error,
            f"next attempt at {retry_at:%Y-%m-%d %H:%M:%S} UTC" if retry_at else "given up",
        )

    def _post(self, app: App, event: WebhookEvent, body: bytes) -> _Outcome:
        headers = request_headers(app, event)
        sent = tuple(headers)  # without Host and Content-Length, if it never gets that far
        if not app.webhook_url:
            return _Outcome(None, "The app has no webhook URL", "", sent, "refused", retry=False)
        guard = self.services.webhook_guard
        try:
            outgoing = guard.prepare_post(app.webhook_url, headers, body)
            sent = outgoing.headers
            answer = guard.post(outgoing, self.connections, keep=ANSWER_KEPT)
        except WrongUrl as exc:
            reason = exc.message.replace("can be downloaded", "can receive webhooks")
            return _Outcome(None, f"The webhook URL is refused: {reason}", "", sent, "refused")
        except TimedOut as exc:
            return _Outcome(None, exc.message, "", sent, "timeout")
        except DownloadFailed as exc:
            return _Outcome(None, exc.message, "", sent, "connection")
        return _answered(answer, sent)


class Yielding:
    """Sending yields to the requests of its process while they come.

    In ``vitrina serve`` the senders share the process, and its interpreter
    lock, with the threads answering requests: sending an event takes about
    as much of it as the write that caused it, so a burst of writes would
    slow down by a third or more because webhooks are on. So, window by
    window (a tenth of a second), while the process is busy (it began at
    least ``REQUESTS`` requests in the last window, or the rest of it used
    more than half a core), the senders together take at most a tenth of
    the window's time (each claim reserving what a delivery has been
    costing), and the events go out when the burst ends. Never for long:
    once a delivery is claimed more than ``LAG_SECONDS`` after it fell due,
    the senders stop yielding until they catch up. A worker of its own
    (``vitrina worker``, or the parent of ``serve --workers N``) has no
    requests to yield to, and does not yield.

    ``requests``: how many requests the process has begun so far;
    ``clock`` and ``cpu``: the wall clock and the process's CPU time."""

    WINDOW = 0.1  # seconds
    BUSY = 0.5  # the rest of the process used more than this many cores: busy
    REQUESTS = 2  # or it began this many requests in the window: busy
    SHARE = 0.1  # the senders' share of a busy window
    LAG_SECONDS = 10.0

    def __init__(
        self,
        requests: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self._requests, self._clock, self._process_cpu = requests, clock, cpu
        self._lock = threading.Lock()
        self._start = clock()
        self._cpu = cpu()
        self._begun = requests()
        self._senders = 0.0  # CPU seconds the senders used in this window
        self._sending = 0  # claims under way
        self._cost = 0.002  # CPU seconds a delivery takes, as recently measured
        self._busy = False
        self._behind = False

    def pause(self) -> float:
        """How long a sender waits before its next claim; 0: claim now (then
        report with ``spent``)."""
        with self._lock:
            stamp = self._clock()
            wall = stamp - self._start
            if wall >= self.WINDOW:
                cpu, begun = self._process_cpu(), self._requests()
                others = (cpu - self._cpu - self._senders) / wall
                busy = others > self.BUSY or begun - self._begun >= self.REQUESTS
                self._busy, self._behind = busy and not self._behind, False
                self._start, self._cpu, self._senders, self._begun = stamp, cpu, 0.0, begun
                wall = 0.0
            planned = self._senders + self._sending * self._cost
            if self._busy and planned + self._cost > self.SHARE * self.WINDOW:
                return self.WINDOW - wall
            self._sending += 1
            return 0.0

    def spent(self, seconds: float, late: float | None) -> None:
        """A claim took ``seconds`` of CPU; its delivery (None: there was
        none) had fallen due ``late`` seconds before."""
        with self._lock:
            self._sending -= 1
            self._senders += seconds
            if late is not None:
                self._cost = 0.8 * self._cost + 0.2 * seconds
                if late > self.LAG_SECONDS:
                    self._behind = True


def prune(services: Services) -> int:
    """Delete deliveries finished longer ago than the retention period."""
    retention = timedelta(seconds=services.webhook_rules.retention_seconds)
    pruned = services.metadata.webhooks.prune_webhooks(datetime.now(UTC) - retention)
    if pruned:
        log.info("pruned %d finished webhook deliveries", pruned)
    return pruned


class WebhookWorker:
    """Sends deliveries in ``VITRINA_WEBHOOK_CONCURRENCY`` background threads
    until stopped: a slow receiver holds up one thread, and the claim keeps
    it to its own app's deliveries. ``requests``: the worker shares its
    process with the server's requests, and counts those begun so far
    (``Yielding``)."""

    def __init__(self, services: Services, requests: Callable[[], int] | None = None) -> None:
        self.services = services
        rules = services.webhook_rules
        self.poll = rules.poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._runners = [WebhookRunner(services) for _ in range(rules.concurrency)]
        self._yield = Yielding(requests) if requests else None
        self._threads = [
            threading.Thread(
                target=self._loop, args=(n,), name=f"vitrina-webhooks-{n}", daemon=True
            )
            for n in range(rules.concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def halt(self) -> None:
        """Claim nothing more (``stop`` then waits and hands back)."""
        self._stop.set()
        self.wake()

    def wait(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def stop(self, timeout: float = 10) -> None:
        """Claim nothing more; let attempts in flight finish for ``timeout``
        seconds, then hand their deliveries back so that another node sends
        them at once."""
        self.halt()
        hand_back(
            self._threads,
            time.monotonic() + timeout,
            lambda: (runner.current for runner in self._runners),
            self.services.metadata.webhooks.release_delivery,
            lambda delivery: f"webhook delivery {delivery.id}",
        )

    def _loop(self, number: int) -> None:
        runner = self._runners[number]  # its own name, for the lease
        try:
            while not self._stop.is_set():
                pause = self._yield.pause() if self._yield else 0.0
                if pause:
                    self._stop.wait(pause)
                    continue
                cpu, delivery = time.thread_time(), None
                try:
                    delivery = runner.run_once()
                except Unavailable as exc:
                    log.warning("webhook worker: %s", exc.message)
                except Exception:
                    log.exception("webhook worker: unexpected error")
                finally:
                    if self._yield is not None:
                        late = None
                        if delivery is not None:
                            late = (datetime.now(UTC) - delivery.due_at).total_seconds()
                        self._yield.spent(time.thread_time() - cpu, late)
                if delivery is not None:
                    continue
                with self._wake:
                    if not self._stop.is_set():
                        self._wake.wait(self.poll)
        finally:
            runner.close()
