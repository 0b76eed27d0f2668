"""Webhooks as Ecwid sends them, to a real receiver on loopback (tests/receiver.py),
on SQLite + local files and on PostgreSQL + S3: the request exactly (body,
headers, a signature checked by code written here from Ecwid's documentation
and by Node.js), one event per change made through the API, what counts as
delivered, the retry schedule, slow receivers, replay and the test event,
shutdown, pruning, metrics and readiness."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, make_store, run_jobs
from tests.processes import free_port, wait_until
from tests.receiver import Arrival, Receiver, receiver
from tests.servers import ImageServer
from tests.webhook_queue import claim_one
from vitrina.backends.fetching.addresses import IPAddress
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, webhook_policy
from vitrina.domain.values import (
    APPLICATION_INSTALLED,
    CREATED,
    DELETED,
    UPDATED,
    App,
    Delivery,
)
from vitrina.settings import Settings
from vitrina.usecases import apps, webhooks
from vitrina.usecases.webhooks import ECWID_DELAYS, WebhookRunner, WebhookWorker
from vitrina.web.app import create_app

METRICS_TOKEN = "metrics-" + "m" * 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhooks may go to loopback over http; retries come quickly."""
    return settings.replace(
        webhook_allow_http=True,
        webhook_allow_networks=("127.0.0.0/8",),
        webhook_retry_seconds=(0.3, 0.6),
        job_poll_seconds=0.05,
    )


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def _app(services: Services, store: int, url: str, name: str = "Sync", **fields: object) -> App:
    app, _ = apps.create(services, store, name, webhook_url=url, **fields)  # type: ignore[arg-type]  # the test's keywords
    return app


def _deliver(services: Services, limit: int = 1000) -> int:
    """Send what is due; ``limit``: at most this many attempts (the retries
    here are due within a second, so a slow machine may otherwise reach one)."""
    runner = WebhookRunner(services)
    try:
        return runner.run_until_idle(limit)
    finally:
        runner.close()


def _deliveries(services: Services, store: int) -> list[Delivery]:
    return services.metadata.webhooks.list_deliveries(store)


def _seen(arrivals: list[Arrival]) -> list[tuple[str, int]]:
    return [(a.event["eventType"], a.event["entityId"]) for a in arrivals]


def _ecwid_signature(secret: str, body: bytes) -> str:
    """Ecwid's documentation, PHP's hash_hmac('sha256', "$eventCreated.$eventId",
    $clientSecret, true), base64-encoded: written here, not vitrina's signer."""
    event = json.loads(body)
    message = f"{event['eventCreated']}.{event['eventId']}"
    mac = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


_NODE_VERIFIER = r"""
const crypto = require('crypto');
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  for (const { secret, body, signature } of JSON.parse(input)) {
    const event = JSON.parse(body);
    const expected = crypto.createHmac('sha256', secret)
      .update(`${event.eventCreated}.${event.eventId}`)
      .digest('base64');
    const ok = expected.length === signature.length
      && crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
    console.log(ok ? 'valid' : 'INVALID');
  }
});
"""


# -- the request -----------------------------------------------------------------


def test_the_request_is_ecwids_and_its_signature_verifies_independently(
    services: Services, api: Api, hooks: Receiver
) -> None:
    app = _app(services, api.store_id, hooks.url("/ok"))
    category = api.create(name="Shoes")
    before = int(time.time())
    assert _deliver(services) == 2
    install, created = hooks.wait_for(2)
    assert (install.event["eventType"], install.event["entityId"]) == (
        APPLICATION_INSTALLED,
        app.id,
    )
    assert created.body.startswith(b'{"eventId":"')
    assert [k for k, _ in json.loads(created.body, object_pairs_hook=list)] == [
        "eventId",
        "eventCreated",
        "storeId",
        "entityId",
        "eventType",
    ]
    event = created.event
    assert event["storeId"] == api.store_id and event["entityId"] == category
    assert event["eventType"] == CREATED and "data" not in event
    assert before - 5 <= event["eventCreated"] <= int(time.time())
    assert created.header("Content-Type") == "application/json; charset=UTF-8"
    assert created.header("Content-Length") == str(len(created.body))
    for arrival in (install, created):
        assert arrival.header("X-Ecwid-Webhook-Signature") == _ecwid_signature(
            app.client_secret, arrival.body
        )
    assert _ecwid_signature("another secret", created.body) != created.header(
        "X-Ecwid-Webhook-Signature"
    )
    # the delivery log holds the request exactly as it arrived
    [delivery] = [d for d in _deliveries(services, api.store_id) if d.event.event_type == CREATED]
    [attempt] = services.metadata.webhooks.attempts(api.store_id, delivery.id)
    assert list(attempt.request_headers.items()) == created.headers
    assert attempt.request_body.encode() == created.body
    assert (attempt.status, attempt.error, attempt.response) == (200, "", "answer 200")
    assert attempt.next_at is None and delivery.state == "delivered"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.embedded_only
def test_nodejs_verifies_the_signature_as_an_app_would(
    services: Services, api: Api, hooks: Receiver
) -> None:
    app = _app(services, api.store_id, hooks.url("/ok"))
    for n in range(3):
        api.create(name=f"Category {n}")
    _deliver(services)
    arrivals = hooks.wait_for(4)
    items = [
        {"secret": app.client_secret, "body": a.body.decode(), "signature": s}
        for a in arrivals
        for s in (a.header("X-Ecwid-Webhook-Signature"),)
    ]
    forged = {**items[1], "secret": app.client_secret + "x"}
    checked = subprocess.run(
        ["node", "-e", _NODE_VERIFIER],
        input=json.dumps([*items, forged]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert checked.stdout.split() == ["valid"] * 4 + ["INVALID"]


# -- one event per change ------------------------------------------------------


def test_every_change_made_through_the_api_is_one_event(
    services: Services, api: Api, hooks: Receiver, remote: ImageServer
) -> None:
    _app(services, api.store_id, hooks.url("/ok"))
    top = api.create(name="Top")
    middle = api.create(name="Middle", parentId=top)
    bottom = api.create(name="Bottom", parentId=middle)
    assert api.put(f"/categories/{top}", json={"name": "Top shelf"}).status_code == 200
    photo = images.phone_jpeg()
    assert api.upload(middle, photo).status_code == 200  # uploaded
    assert api.upload(middle, photo).status_code == 200  # replaced
    assert api.delete(f"/categories/{middle}/image").status_code == 200
    for path in ("/image.jpg", "/text"):  # an async upload that completes, one that fails
        answer = api.post(
            f"/categories/{bottom}/image/async",
            json={"url": remote.url(path), "width": 8, "height": 8},
        )
        assert answer.status_code == 200, answer.text
        run_jobs(services)
    assert api.category(bottom).get("imageUrl") is not None  # the failure kept the first
    assert api.delete(f"/categories/{top}").status_code == 200  # with its subtree
    _deliver(services)
    seen = _seen(hooks.wait_for(15))[1:]  # after the install
    assert seen[:11] == [
        (CREATED, top),
        (CREATED, middle),
        (CREATED, bottom),
        (UPDATED, top),
        (UPDATED, middle),  # uploaded
        (UPDATED, middle),  # replaced
        (UPDATED, middle),  # deleted
        (UPDATED, bottom),  # async upload accepted
        (UPDATED, bottom),  # ... and completed
        (UPDATED, bottom),  # another accepted
        (UPDATED, bottom),  # ... and failed: back to the first
    ]
    assert sorted(seen[11:]) == sorted([(DELETED, top), (DELETED, middle), (DELETED, bottom)])
    assert len({a.event["eventId"] for a in hooks.received()}) == 15
    assert {d.state for d in _deliveries(services, api.store_id)} == {"delivered"}


def test_an_app_hears_only_the_events_it_asked_for_and_may_see(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/ok?all"), "All")
    _app(services, api.store_id, hooks.url("/ok?deleted"), "Deletions", events=[DELETED])
    _app(services, api.store_id, hooks.url("/ok?blind"), "Blind", scopes=["create_catalog"])
    category = api.create()
    api.delete(f"/categories/{category}")
    _deliver(services)
    hooks.wait_for(5)  # "Deletions" asked for deletions alone: not its install either
    assert _seen(hooks.received("/ok?all"))[1:] == [(CREATED, category), (DELETED, category)]
    assert _seen(hooks.received("/ok?deleted")) == [(DELETED, category)]
    assert [a.event["eventType"] for a in hooks.received("/ok?blind")] == [APPLICATION_INSTALLED]


# -- what counts as delivered ---------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 209])
def test_each_success_code_delivers(
    services: Services, api: Api, hooks: Receiver, status: int
) -> None:
    _app(services, api.store_id, hooks.url(f"/status/{status}"))
    assert _deliver(services, limit=1) == 1
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, status)
    [attempt] = services.metadata.webhooks.attempts(api.store_id, delivery.id)
    assert attempt.next_at is None and attempt.error == ""


@pytest.mark.embedded_only
@pytest.mark.parametrize("status", [200, 299, 400, 404, 410, 429, 500, 503])
def test_other_statuses_fail_and_are_retried(
    services: Services, api: Api, hooks: Receiver, status: int
) -> None:
    _app(services, api.store_id, hooks.url(f"/status/{status}"))
    assert _deliver(services, limit=1) == 1
    [delivery] = _deliveries(services, api.store_id)
    if status == 200:  # the control
        assert delivery.state == "delivered"
        return
    assert (delivery.state, delivery.last_status) == ("pending", status)
    assert delivery.last_error == f"HTTP {status}"
    [attempt] = services.metadata.webhooks.attempts(api.store_id, delivery.id)
    assert attempt.next_at is not None and attempt.response == f"answer {status}"


def test_a_redirect_is_a_failure_and_is_not_followed(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/redirect"))
    _deliver(services, limit=1)
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.last_status) == ("pending", 302)
    assert "redirects are not followed" in delivery.last_error
    assert hooks.url("/ok") in delivery.last_error  # where it pointed, for the developer
    time.sleep(0.2)
    assert hooks.followed == [] and len(hooks.received()) == 1


def test_an_answer_too_slow_is_a_failure(services: Services, api: Api, hooks: Receiver) -> None:
    services.webhook_guard = GuardedFetcher(
        webhook_policy(services.settings, connect_timeout=0.5, total_timeout=1.0)
    )
    _app(services, api.store_id, hooks.url("/sleep/2.5"))
    started = time.monotonic()
    _deliver(services, limit=1)
    took = time.monotonic() - started
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.last_status) == ("pending", None)
    assert delivery.last_error == "No complete answer within 1 s"
    assert 0.9 < took < 2.0  # the deadline, not the receiver, ended it


def test_a_refused_connection_is_a_failure(services: Services, api: Api) -> None:
    closed = free_port()  # nothing listens there
    _app(services, api.store_id, f"http://127.0.0.1:{closed}/hooks")
    _deliver(services, limit=1)
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.last_status) == ("pending", None)
    assert delivery.last_error == "Could not connect: the connection was refused"


def test_no_connection_in_time_is_a_failure(services: Services, api: Api) -> None:
    with socket.socket() as full:  # a listener whose queue is full: connections wait
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            services.webhook_guard = GuardedFetcher(
                webhook_policy(services.settings, connect_timeout=0.4, total_timeout=2.0)
            )
            _app(services, api.store_id, f"http://127.0.0.1:{port}/hooks")
            started = time.monotonic()
            _deliver(services, limit=1)
            took = time.monotonic() - started
    [delivery] = _deliveries(services, api.store_id)
    assert delivery.last_error == "No connection within 0.4 s"
    assert took < 1.5


def test_an_address_that_became_private_is_a_failed_attempt_then_retried(
    services: Services, api: Api, hooks: Receiver
) -> None:
    """hooks.test resolves to loopback (allowed here) when the app is saved,
    then to a private address: that attempt fails before any connection,
    with the reason in the log, and is retried like any other."""
    answers: list[IPAddress] = [ipaddress.ip_address("127.0.0.1")]

    def resolver(host: str, port: int) -> list[IPAddress]:
        assert host == "hooks.test"
        return list(answers)

    services.webhook_guard = GuardedFetcher(webhook_policy(services.settings, resolver=resolver))
    _app(services, api.store_id, f"http://hooks.test:{hooks.port}/ok")
    answers[:] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.1.2.3")]
    _deliver(services, limit=1)
    [delivery] = _deliveries(services, api.store_id)
    assert delivery.state == "pending"
    assert delivery.last_error == (
        "The webhook URL is refused: The URL does not point to a public internet address"
    )
    assert hooks.received() == []  # refused before connecting
    answers[:] = [ipaddress.ip_address("127.0.0.1")]
    time.sleep(0.35)  # the first retry is due after 0.3 s here
    _deliver(services)
    [arrival] = hooks.wait_for(1)
    assert arrival.header("Host") == f"hooks.test:{hooks.port}"
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


# -- retries ------------------------------------------------------------------------


def test_ecwids_schedule_is_27_attempts_within_24_hours() -> None:
    assert len(ECWID_DELAYS) == 26  # retries after the first attempt
    offsets = [sum(ECWID_DELAYS[: n + 1]) for n in range(len(ECWID_DELAYS))]
    assert offsets[:5] == [15 * 60, 30 * 60, 45 * 60, 3600, 2 * 3600]
    assert offsets[5:] == [h * 3600 for h in range(3, 24)]  # then hourly
    worst = offsets[-1] + 27 * 10  # every attempt taking its whole 10 s
    assert worst < 24 * 3600


def test_a_failing_receiver_is_retried_on_the_schedule_then_given_up(
    services: Services, api: Api, hooks: Receiver
) -> None:
    """VITRINA_WEBHOOK_RETRY_SECONDS=0.3,0.6: three attempts, then no more."""
    _app(services, api.store_id, hooks.url("/status/500"))
    worker = WebhookWorker(services)
    worker.start()
    try:
        arrivals = hooks.wait_for(3, timeout=10)
        time.sleep(1.0)  # no fourth comes
        assert wait_until(lambda: _deliveries(services, api.store_id)[0].state == "failed", 5)
    finally:
        worker.stop()
    assert len(hooks.received()) == 3
    gaps = [later.started - earlier.started for earlier, later in itertools.pairwise(arrivals)]
    assert 0.3 <= gaps[0] < 1.0 and 0.6 <= gaps[1] < 1.3, gaps
    [delivery] = _deliveries(services, api.store_id)
    attempts = services.metadata.webhooks.attempts(api.store_id, delivery.id)
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.status for a in attempts] == [500, 500, 500]
    first, second, third = attempts
    assert first.next_at is not None and second.next_at is not None and third.next_at is None
    assert timedelta(seconds=0.29) < first.next_at - first.at < timedelta(seconds=1)
    assert delivery.last_error == "HTTP 500"


def test_a_receiver_that_recovers_gets_the_event(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/flaky/2"))
    worker = WebhookWorker(services)
    worker.start()
    try:
        hooks.wait_for(3, timeout=10)
        assert wait_until(lambda: _deliveries(services, api.store_id)[0].state == "delivered", 5)
    finally:
        worker.stop()
    assert [a.status for a in hooks.received()] == [500, 500, 200]
    assert len({a.event["eventId"] for a in hooks.received()}) == 1  # the same event


# -- receivers that take their time ------------------------------------------------


def test_a_slow_receiver_does_not_delay_another_app(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/sleep/1.5"), "Slow")
    for n in range(12):
        api.create(name=f"Slow going {n}")
    worker = WebhookWorker(services)  # its threads outnumber what one app may take
    worker.start()
    try:
        # the slow app's deliveries are claimed together (up to BATCH) and
        # sent one after another: the slow app is under way
        assert wait_until(lambda: len(hooks.received("/sleep/1.5")) >= 2, 15)
        started = time.monotonic()
        _app(services, api.store_id, hooks.url("/ok"), "Fast")
        fast = [api.create(name=f"Fast {n}") for n in range(5)]
        arrived = hooks.wait_for(1 + 5, "/ok", timeout=10)
        slow_by_then = len(hooks.received("/sleep/1.5"))
        took = max(a.started for a in arrived) - started
    finally:
        worker.stop(5)
    # the app's install event and its five categories', in any order (four at once)
    created = {a.event["entityId"] for a in arrived if a.event["eventType"] == "category.created"}
    assert created == set(fast)
    # not behind the slow app's 13 events of 1.5 s: those were still being
    # sent (a count, not a time: the machine may be loaded)
    assert slow_by_then < 1 + 12, (slow_by_then, took)


def test_a_batch_to_a_slow_receiver_gives_back_what_half_its_lease_does_not_cover(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/sleep/0.6"))
    for n in range(4):
        api.create(name=f"Slow {n}")
    runner = WebhookRunner(services, lease_seconds=2)  # half of it: 1 s, two answers at most
    try:
        sent = runner.run_once(most=5)
    finally:
        runner.close()
    assert 1 <= len(sent) <= 2
    states = {d.id: (d.state, d.attempts) for d in _deliveries(services, api.store_id)}
    for delivery in sent:
        assert states.pop(delivery.id) == ("delivered", 1)
        assert len(services.metadata.webhooks.attempts(api.store_id, delivery.id)) == 1
    # the rest were never sent: due at once, no attempt counted or logged
    assert set(states.values()) == {("pending", 0)}
    for delivery_id in states:
        assert services.metadata.webhooks.attempts(api.store_id, delivery_id) == []
    assert _deliver(services) == len(states)
    assert len(hooks.wait_for(5)) == 5


def test_a_batch_records_each_outcome_of_its_own(
    services: Services, api: Api, hooks: Receiver
) -> None:
    """One claim, one receiver that fails each event's first arrival
    but the app's install (already sent): every attempt is logged as it was."""
    app = _app(services, api.store_id, hooks.url("/ok"))
    assert _deliver(services) == 1  # the install
    apps.change(services, api.store_id, app.id, webhook_url=hooks.url("/flaky/1"))
    for n in range(3):
        api.create(name=f"C{n}")
    runner = WebhookRunner(services)
    try:
        assert len(runner.run_once(most=16)) == 3  # one batch: all three fail
        time.sleep(0.4)  # the first retry is due 0.3 s later
        assert len(runner.run_once(most=16)) == 3  # one batch: all three delivered
    finally:
        runner.close()
    created = [d for d in _deliveries(services, api.store_id) if d.event.event_type == CREATED]
    for delivery in created:
        assert (delivery.state, delivery.attempts) == ("delivered", 2)
        tries = services.metadata.webhooks.attempts(api.store_id, delivery.id)
        assert [(a.number, a.status) for a in tries] == [(1, 500), (2, 200)]
        assert tries[0].next_at is not None and tries[1].next_at is None


def test_claimers_at_once_get_distinct_deliveries_and_at_most_four_of_an_app(
    services: Services, api: Api
) -> None:
    _app(services, api.store_id, "http://127.0.0.1:9/unused")
    for n in range(12):
        api.create(name=f"C{n}")
    start = threading.Barrier(8)

    def claim(n: int) -> int | None:
        start.wait()
        claimed = claim_one(services.metadata.webhooks, f"claimer-{n}", 60)
        return claimed[0].id if claimed else None

    with ThreadPoolExecutor(8) as pool:
        got = [c for c in pool.map(claim, range(8)) if c is not None]
    assert len(got) == len(set(got)) == 4


def test_connections_to_a_receiver_are_kept_alive(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/ok"))
    for n in range(5):
        api.create(name=f"C{n}")
    runner = WebhookRunner(services)
    try:
        runner.run_until_idle()
        assert len({a.client_port for a in hooks.wait_for(6)}) == 1  # one connection
        time.sleep(0.1)
        api.create(name="Later")
        runner.run_until_idle()
    finally:
        runner.close()
    assert len({a.client_port for a in hooks.wait_for(7)}) == 1


# -- replay, the test event --------------------------------------------------------


def test_replay_sends_the_same_event_again_and_the_test_event_is_signed(
    services: Services, api: Api, hooks: Receiver
) -> None:
    app = _app(services, api.store_id, hooks.url("/ok"))
    category = api.create(name="Hats")
    _deliver(services)
    [sent] = [d for d in _deliveries(services, api.store_id) if d.event.event_type == CREATED]
    again = services.metadata.webhooks.replay(api.store_id, sent.id)
    test = services.metadata.webhooks.send_test(api.store_id, app.id, category)
    assert again is not None and test is not None
    _deliver(services)
    original, replayed, tested = hooks.wait_for(4)[1:]
    assert replayed.body == original.body  # the same eventId, eventCreated, everything
    assert replayed.header("X-Ecwid-Webhook-Signature") == original.header(
        "X-Ecwid-Webhook-Signature"
    )
    assert (tested.event["eventType"], tested.event["entityId"]) == (UPDATED, category)
    assert tested.event["eventId"] != original.event["eventId"]
    assert tested.header("X-Ecwid-Webhook-Signature") == _ecwid_signature(
        app.client_secret, tested.body
    )
    states = {d.id: d.state for d in _deliveries(services, api.store_id)}
    assert states[again.id] == states[test.id] == "delivered"


# -- the worker's life -------------------------------------------------------------


def test_stopping_hands_a_delivery_in_flight_back(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/sleep/3"))
    worker = WebhookWorker(services)
    worker.start()
    hooks.wait_for(1)
    worker.stop(0.2)  # it does not wait for the answer
    [delivery] = _deliveries(services, api.store_id)
    assert delivery.state == "pending" and delivery.due_at <= datetime.now(UTC)
    # the app's receiver is fixed meanwhile
    apps.change(services, api.store_id, delivery.app_id, webhook_url=hooks.url("/ok"))
    assert _deliver(services) == 1  # at once, by another worker
    assert _deliveries(services, api.store_id)[0].state == "delivered"


def test_a_worker_killed_mid_attempt_loses_nothing(
    services: Services, api: Api, hooks: Receiver
) -> None:
    """A claim whose worker died is taken over when its lease runs out, and
    the dead worker's outcome, should it come, is not applied."""
    _app(services, api.store_id, hooks.url("/ok"))
    claimed = claim_one(services.metadata.webhooks, "dead-worker", 1)
    assert claimed is not None  # ... and never sent: the worker died here
    assert _deliver(services) == 0  # leased
    time.sleep(1.1)
    assert _deliver(services) == 1
    [arrival] = hooks.wait_for(1)
    [delivery] = _deliveries(services, api.store_id)
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert arrival.event["eventId"] == claimed[0].event.event_id


def test_finished_deliveries_are_pruned_after_the_retention_period(
    services: Services, api: Api, hooks: Receiver
) -> None:
    _app(services, api.store_id, hooks.url("/ok"))
    api.create()
    _deliver(services)
    closed = free_port()
    _app(services, api.store_id, f"http://127.0.0.1:{closed}/", "Down")  # pending, retried
    _deliver(services)
    assert webhooks.prune(services) == 0  # a week is kept
    services.settings = services.settings.replace(webhook_retention_seconds=1)
    time.sleep(1.1)
    assert webhooks.prune(services) == 2
    [left] = _deliveries(services, api.store_id)
    assert left.state == "pending"


# -- metrics and readiness ---------------------------------------------------------


def test_metrics_count_deliveries_attempts_and_latency(services: Services, hooks: Receiver) -> None:
    services.settings = services.settings.replace(
        metrics_token=METRICS_TOKEN, webhook_retry_seconds=(60,)
    )
    with TestClient(create_app(services.settings, services)) as client:
        store = make_store(services, client)
        _app(services, store.store_id, hooks.url("/ok"))
        _app(services, store.store_id, hooks.url("/status/500"), "Broken")
        store.create()
        _deliver(services)
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = answer.text
    assert re.search(r'vitrina_webhook_deliveries_total{outcome="delivered"} [1-9]', text)
    assert re.search(r'vitrina_webhook_deliveries_total{outcome="retrying"} [1-9]', text)
    assert re.search(r'vitrina_webhook_attempts_total{result="success"} [1-9]', text)
    assert re.search(r'vitrina_webhook_attempts_total{result="status"} [1-9]', text)
    assert re.search(r"vitrina_webhook_receiver_seconds_count [1-9]", text)
    assert re.search(r'vitrina_webhook_queue{state="delivered"} 2', text)
    assert re.search(r'vitrina_webhook_queue{state="pending"} 2', text)
    assert "\nvitrina_webhook_oldest_due_seconds 0.0\n" in text  # retries are not due


def test_a_late_webhook_makes_the_node_not_ready(
    services: Services, settings: Settings, hooks: Receiver
) -> None:
    services.settings = settings.replace(ready_max_webhook_age_seconds=1)
    with TestClient(create_app(services.settings, services)) as client:
        store = make_store(services, client)
        assert client.get("/readyz").status_code == 200
        _app(services, store.store_id, hooks.url("/ok"))  # its install event, unsent
        time.sleep(1.2)
        late = client.get("/readyz")
        assert late.status_code == 503
        assert "VITRINA_READY_MAX_WEBHOOK_AGE_SECONDS" in late.json()["errorMessage"]
        _deliver(services)
        assert client.get("/readyz").status_code == 200
