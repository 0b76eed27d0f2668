"""Webhook delivery across real processes: an event committed just before a
SIGKILL is delivered after the restart, and two nodes on one PostgreSQL
share the deliveries without sending any event twice or any attempt twice
at once. The receiver is on loopback (tests/receiver.py)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.processes import interruptible, start_serve, stop, wait_ready, wait_until
from tests.receiver import Arrival, Receiver, receiver
from tests.services import S3, Postgres
from vitrina.backends.metadata.schema import webhook_deliveries
from vitrina.bootstrap import Services, build_services
from vitrina.domain.values import APPLICATION_INSTALLED, CREATED, UPDATED, Delivery
from vitrina.settings import Settings
from vitrina.usecases import apps

pytestmark = pytest.mark.slow

LOOPBACK_HOOKS = {
    "VITRINA_WEBHOOK_ALLOW_HTTP": "true",
    "VITRINA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "VITRINA_RATE_LIMIT_PER_MINUTE": "0",
}


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


def _services(env: dict[str, str], data_dir: Path) -> Services:
    return build_services(Settings.from_env({**env, "VITRINA_DATA_DIR": str(data_dir)}))


def test_an_event_committed_before_a_sigkill_is_delivered_after_the_restart(
    tmp_path: Path, hooks: Receiver
) -> None:
    data = tmp_path / "data"
    # the worker looks for deliveries at start, then not for an hour: the
    # write below is committed, and the process killed, before it sends
    env = {**LOOPBACK_HOOKS, "VITRINA_JOB_POLL_SECONDS": "3600"}
    server = start_serve(data, env=env)
    try:
        wait_ready(server)
        with _services(env, data) as services:
            store = services.metadata.stores.list_stores()[0].id
            app, _ = apps.create(services, store, "Sync", webhook_url=hooks.url("/ok"))
        answer = httpx.post(
            f"{server.base}/api/v3/{store}/categories",
            json={"name": "Committed"},
            headers={"Authorization": f"Bearer {server.token()}"},
        )
        assert answer.status_code == 200, answer.text
        category = answer.json()["id"]
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    finally:
        stop(server.process)
    assert hooks.received() == []  # nothing was sent before the kill
    again = start_serve(data, env={**env, "VITRINA_JOB_POLL_SECONDS": "0.1"})
    try:
        wait_ready(again)
        arrived = hooks.wait_for(2, timeout=30)
    finally:
        stop(again.process)
    # both at once, in either order (an app gets up to four deliveries at a time)
    assert sorted((a.event["eventType"], a.event["entityId"]) for a in arrived) == sorted(
        [(APPLICATION_INSTALLED, app.id), (CREATED, category)]
    )
    assert len(hooks.received()) == 2


def test_two_nodes_send_each_event_once_and_no_attempt_twice_at_once(
    tmp_path: Path, postgres: Postgres, s3: S3, hooks: Receiver
) -> None:
    """500 writes through one node's HTTP API; that node's worker and a
    `vitrina worker` on another deliver. The receiver fails every event's
    first arrival, so each event is sent exactly twice: attempt 1, then 2."""
    with postgres.database() as url:
        env = {
            **LOOPBACK_HOOKS,
            "VITRINA_DATABASE_URL": url,
            **s3.environment(uuid.uuid4().hex),
            "VITRINA_JOB_POLL_SECONDS": "0.05",
            "VITRINA_WEBHOOK_RETRY_SECONDS": "0.2,0.2,0.2",
        }
        server = start_serve(tmp_path / "a" / "data", env=env)
        worker: subprocess.Popen[bytes] | None = None
        try:
            wait_ready(server)
            worker = subprocess.Popen(
                [sys.executable, "-m", "vitrina", "worker", "--data-dir", str(tmp_path / "b")],
                env={**os.environ, "VITRINA_LOG_LEVEL": "warning", **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=interruptible,
            )
            with _services(env, tmp_path / "c") as services:
                store = services.metadata.stores.list_stores()[0].id
                app, _ = apps.create(services, store, "Sync", webhook_url=hooks.url("/flaky/1"))
            created, updated = _write(server.base, store, server.token(), 300, 200)
            expected = 1 + len(created) + len(updated)
            assert wait_until(lambda: len(hooks.received()) >= 2 * expected, 120), (
                f"{len(hooks.received())} of {2 * expected} arrived"
            )
            with _services(env, tmp_path / "c") as services:
                assert wait_until(
                    lambda: {d.state for d in _all(services, store)} == {"delivered"}, 30
                )
                deliveries = _all(services, store)
                numbers = {
                    d.id: [a.number for a in services.metadata.webhooks.attempts(store, d.id)]
                    for d in deliveries
                }
                assert services.engine is not None
                with services.engine.connect() as conn:
                    workers = set(conn.execute(sa.select(webhook_deliveries.c.worker)).scalars())
        finally:
            if worker is not None:
                stop(worker)
            stop(server.process)
    # one event per change, no more
    assert len(deliveries) == expected
    events = sorted((d.event.event_type, d.event.entity_id) for d in deliveries)
    assert events == sorted(
        [(APPLICATION_INSTALLED, app.id)]
        + [(CREATED, c) for c in created]
        + [(UPDATED, c) for c in updated]
    )
    # each delivery had exactly attempts 1 and 2, recorded once each
    assert all(n == [1, 2] for n in numbers.values()), numbers
    # each event arrived exactly twice, and never while its other send was open
    by_event: defaultdict[str, list[Arrival]] = defaultdict(list)
    for arrival in hooks.received():
        by_event[arrival.event["eventId"]].append(arrival)
    assert len(by_event) == expected
    assert {len(a) for a in by_event.values()} == {2}
    for first, second in by_event.values():
        assert first.ended and first.ended <= second.started
        assert (first.status, second.status) == (500, 200)
    # both nodes sent (their claims carry host:pid:runner)
    assert len({w.split(":")[1] for w in workers if w}) == 2, workers


def _write(
    base: str, store: int, token: str, creates: int, updates: int
) -> tuple[list[int], list[int]]:
    """``creates`` categories, then ``updates`` renames of them, by 4 clients."""
    api = f"{base}/api/v3/{store}/categories"
    headers = {"Authorization": f"Bearer {token}"}

    def create(n: int) -> int:
        with httpx.Client(headers=headers, timeout=60) as client:
            answer = client.post(api, json={"name": f"Category {n}"})
            assert answer.status_code == 200, answer.text
            category: int = answer.json()["id"]
            return category

    def update(category: int) -> int:
        answer = httpx.put(
            f"{api}/{category}", json={"name": f"Renamed {category}"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        return category

    with ThreadPoolExecutor(4) as pool:
        created = list(pool.map(create, range(creates)))
        targets = list(itertools.islice(itertools.cycle(created), updates))
        updated = list(pool.map(update, targets))
    return created, updated


def _all(services: Services, store: int) -> list[Delivery]:
    return services.metadata.webhooks.list_deliveries(store, limit=10_000)
