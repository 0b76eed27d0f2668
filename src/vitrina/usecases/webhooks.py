"""Sending webhooks, as Ecwid sends them, from the outbox's deliveries.

A runner claims up to ``BATCH`` due deliveries of one app at once (leased
rows: backends/metadata/sql_webhooks.py), builds Ecwid's request for each
and POSTs them one after another through the webhook guard, which checks
the URL, resolves the host and judges every address it has at every attempt,
and connects to the address it checked. The attempts are recorded together,
as sent and as answered, by ``finish_attempts``: each delivered, due again
later, or given up. Two write transactions for a batch, not two per event:
on SQLite the store's own writes wait for each one.

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
take turns and keeps any one app to four claims (four threads) in flight,
so a slow or dead receiver holds up at most its own events. A batch to a
slow receiver records what it sent every ``RECORD_EVERY`` seconds, and gives
back what it has not sent once half its lease has passed. Each thread keeps its connections
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
from vitrina.usecases.yielding import Yielding

log = logging.getLogger("vitrina.webhooks")

SUCCESS = frozenset({200, 201, 202, 204, 209})
ANSWER_KEPT = 2048  # bytes of a receiver's answer kept in the delivery log
USER_AGENT = f"vitrina/{VERSION} (webhooks)"
BATCH = 16  # deliveries of one app claimed, and their attempts recorded, together
RECORD_EVERY = 1.0  # seconds: a batch records what it sent at least this often

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


def _always() -> bool:
    return True


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
    """Claims an app's due deliveries together, sends them one after
    another over its own kept-alive connections (a runner belongs to one
    thread), and records their attempts together."""

    def __init__(self, services: Services, lease_seconds: int | None = None) -> None:
        self.services = services
        self.name = runner_name("webhooks-")
        self.lease_seconds = lease_seconds or services.webhook_rules.lease_seconds
        self.current: list[Delivery] = []  # claimed, their attempts not recorded yet
        self.connections = services.webhook_guard.kept_connections()

    def run_once(self, most: int = BATCH, go_on: Callable[[], bool] = _always) -> list[Delivery]:
        """Claim up to ``most`` due deliveries of one app, send them and
        record the attempts; the deliveries sent ([]: none was due). The
        rest of a batch is given back unsent once ``go_on`` says no (the
        worker stops) or half the lease has passed (so that each attempt
        ends well within it: a slow receiver takes up to 13 s)."""
        claimed = self.services.metadata.webhooks.claim_deliveries(
            self.name, self.lease_seconds, most
        )
        if claimed is None:
            return []
        app, batch = claimed
        ends = time.monotonic() + self.lease_seconds / 2
        self.current = list(batch)
        sent: list[Delivery] = []
        made: list[tuple[Delivery, Attempt, _Outcome]] = []
        recorded = time.monotonic()
        try:
            for delivery in batch:
                if sent and (not go_on() or time.monotonic() > ends):
                    break
                attempt, outcome = self._attempt(delivery, app)
                made.append((delivery, attempt, outcome))
                sent.append(delivery)
                if time.monotonic() - recorded >= RECORD_EVERY and len(sent) < len(batch):
                    held = self._record(app, made)  # a slow receiver's log fills as it goes
                    self.current = batch[len(sent) :]
                    made, recorded = [], time.monotonic()
                    if not held:  # the lease ran out meanwhile: the rest too, likely
                        break
            self._record(app, made, batch[len(sent) :])
        finally:
            self.current = []
        return sent

    def run_until_idle(self, limit: int = 1000) -> int:
        """Send what is due, at most ``limit`` attempts; how many were made."""
        done = 0
        while done < limit:
            sent = self.run_once(min(BATCH, limit - done))
            if not sent:
                break
            done += len(sent)
        return done

    def close(self) -> None:
        self.connections.close()

    def _attempt(self, delivery: Delivery, app: App) -> tuple[Attempt, _Outcome]:
        """Make the attempt ``delivery`` was claimed for."""
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
        metrics.webhook_attempts.labels(outcome.result).inc()
        if outcome.status is not None:
            metrics.webhook_receiver_seconds.observe(duration)
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
        return attempt, outcome

    def _record(
        self,
        app: App,
        made: list[tuple[Delivery, Attempt, _Outcome]],
        unsent: list[Delivery] | tuple[()] = (),
    ) -> bool:
        """Record the attempts made, and give back the deliveries not sent,
        in one transaction; whether every claim held."""
        try:
            held = self.services.metadata.webhooks.finish_attempts(
                [(delivery, attempt, outcome.delivered) for delivery, attempt, outcome in made],
                unsent,
            )
        except Unavailable as exc:
            log.warning(
                "webhook deliveries %s: the attempts could not be recorded (%s); "
                "they are sent again when their leases run out",
                ", ".join(str(delivery.id) for delivery, _, _ in made) or "-",
                exc.message,
            )
            return True  # not known: their leases decide
        for (delivery, attempt, outcome), kept in zip(made, held, strict=True):
            if kept:
                self._count(delivery, app, outcome, attempt.next_at)
            else:
                log.info(
                    "webhook delivery %d was claimed again meanwhile: "
                    "its outcome is the newer claim's",
                    delivery.id,
                )
        return all(held)

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
    it to its own app's deliveries. ``answering``: the worker shares its
    process with the server's requests, and this tells how long it has
    spent answering them so far (``Yielding``)."""

    def __init__(self, services: Services, answering: Callable[[], float] | None = None) -> None:
        self.services = services
        rules = services.webhook_rules
        self.poll = rules.poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._runners = [WebhookRunner(services) for _ in range(rules.concurrency)]
        self._yield = Yielding(answering) if answering else None
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
            lambda: (delivery for runner in self._runners for delivery in runner.current),
            self.services.metadata.webhooks.release_delivery,
            lambda delivery: f"webhook delivery {delivery.id}",
        )

    def _going(self) -> bool:
        return not self._stop.is_set()

    def _loop(self, number: int) -> None:
        runner = self._runners[number]  # its own name, for the lease
        try:
            while not self._stop.is_set():
                most = BATCH
                if self._yield is not None:
                    pause, most = self._yield.pause(BATCH)
                    if pause:
                        self._stop.wait(pause)
                        continue
                cpu, sent = time.thread_time(), []
                try:
                    sent = runner.run_once(most, self._going)
                except Unavailable as exc:
                    log.warning("webhook worker: %s", exc.message)
                except Exception:
                    log.exception("webhook worker: unexpected error")
                finally:
                    if self._yield is not None:
                        at = datetime.now(UTC)
                        late = max(((at - d.due_at).total_seconds() for d in sent), default=None)
                        self._yield.spent(time.thread_time() - cpu, most, len(sent), late)
                if sent:
                    continue
                with self._wake:
                    if not self._stop.is_set():
                        self._wake.wait(self.poll)
        finally:
            runner.close()
