"""Batch tickets across real processes: a `vitrina serve` killed (SIGKILL)
mid-batch, and the ticket resumed after the restart; and two nodes on one
PostgreSQL (`vitrina serve` and `vitrina worker`) sharing tickets, one of
them killed mid-ticket, the other finishing it. In both, every request is
answered once and no write runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.processes import interruptible, start_serve, stop, wait_ready, wait_until
from tests.services import S3, Postgres
from vitrina.backends.metadata.schema import batch_items
from vitrina.bootstrap import Services, build_services
from vitrina.settings import Settings
from vitrina.usecases.tokens import create_token

pytestmark = pytest.mark.slow

FAST = {
    "VITRINA_RATE_LIMIT_PER_MINUTE": "0",
    "VITRINA_JOB_POLL_SECONDS": "0.05",
    "VITRINA_BATCH_LEASE_SECONDS": "2",  # a killed node's tickets are taken over soon
}


def _services(env: dict[str, str], data_dir: Path) -> Services:
    return build_services(Settings.from_env({**env, "VITRINA_DATA_DIR": str(data_dir)}))


def _creates(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{n}",
            "path": "/categories",
            "method": "POST",
            "body": {"name": f"{prefix}{n}"},
        }
        for n in range(count)
    ]


class Store:
    def __init__(self, base: str, store_id: int, token: str) -> None:
        self.api = f"{base}/api/v3/{store_id}"
        self.headers = {"Authorization": f"Bearer {token}"}

    def send(self, requests: list[dict[str, Any]]) -> str:
        answer = httpx.post(
            f"{self.api}/batch",
            json=requests,
            params={"stopOnFirstFailure": "false"},
            headers=self.headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        ticket: str = answer.json()["ticket"]
        return ticket

    def ticket(self, ticket: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.api}/batch", params={"ticket": ticket}, headers=self.headers, timeout=30
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def names(self) -> list[str]:
        names: list[str] = []
        while True:
            answer = httpx.get(
                f"{self.api}/categories",
                params={"offset": len(names), "hidden_categories": "true"},
                headers=self.headers,
                timeout=30,
            )
            items = answer.json()["items"]
            names += [c["name"] for c in items]
            if len(items) < 100:
                return names


def _answered_once(store: Store, ticket: str, prefix: str, count: int) -> dict[str, Any]:
    """The completed ticket; every request answered, each write made once:
    created for a 200, not at all for a failure, at most once for the one
    a kill may have cut short (REQUEST_INTERRUPTED)."""
    found = store.ticket(ticket)
    assert found["status"] == "COMPLETED", found
    assert (found["totalRequests"], found["completedRequests"]) == (count, count)
    responses = found["responses"]
    assert [r["id"] for r in responses] == [f"{prefix}{n}" for n in range(count)]
    made = Counter(n for n in store.names() if n.startswith(prefix))
    assert set(made.values()) <= {1}, [n for n, c in made.items() if c > 1]
    for r in responses:
        if r["httpStatusCode"] == 200:
            assert made[r["id"]] == 1, r
        else:
            assert r["httpBody"]["errorCode"] == "REQUEST_INTERRUPTED", r
    assert sum(r["httpStatusCode"] != 200 for r in responses) <= 1
    return found


def test_a_ticket_resumes_after_a_sigkill_and_runs_no_write_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_serve(data, env=FAST)
    try:
        wait_ready(first)
        with _services(FAST, data) as services:
            store_id = services.metadata.stores.list_stores()[0].id
        token = first.token()
        store = Store(first.base, store_id, token)
        ticket = store.send(_creates("K", 500))
        assert wait_until(lambda: store.ticket(ticket)["completedRequests"] >= 30, 60)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        stop(first.process)
    again = start_serve(data, env=FAST)
    try:
        wait_ready(again)
        store = Store(again.base, store_id, token)  # a ticket is its token's
        midway = store.ticket(ticket)
        assert midway["status"] == "IN_PROGRESS", midway["completedRequests"]
        assert midway["completedRequests"] >= 30
        assert wait_until(lambda: store.ticket(ticket)["status"] == "COMPLETED", 120)
        _answered_once(store, ticket, "K", 500)
    finally:
        stop(again.process)


def test_two_nodes_share_tickets_and_one_finishes_what_a_killed_one_started(
    tmp_path: Path, postgres: Postgres, s3: S3
) -> None:
    """`vitrina serve` and `vitrina worker` on one PostgreSQL run six stores'
    tickets (a store's tickets run one at a time, so the stores are what the
    nodes share); the worker is killed mid-ticket, and the server's node
    takes its tickets over once their leases run out."""
    with postgres.database() as url:
        env = {**FAST, "VITRINA_DATABASE_URL": url, **s3.environment(uuid.uuid4().hex)}
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
            stores: list[Store] = []
            with _services(env, tmp_path / "c") as services:
                for n in range(6):
                    made = services.metadata.stores.create_store(f"S{n}", "https://s.example")
                    token, _ = create_token(
                        services.metadata, made.id, frozenset({"read_catalog", "create_catalog"})
                    )
                    stores.append(Store(server.base, made.id, token))
            tickets = [s.send(_creates(f"S{n}-", 150)) for n, s in enumerate(stores)]
            with _services(env, tmp_path / "c") as services:
                assert wait_until(lambda: len(_nodes(services)) == 2, 60)
                worker.send_signal(signal.SIGKILL)  # mid-ticket: its leases run out
                worker.wait(10)
                assert wait_until(
                    lambda: all(
                        s.ticket(t)["status"] == "COMPLETED"
                        for s, t in zip(stores, tickets, strict=True)
                    ),
                    180,
                )
                nodes = _nodes(services)
            for n, (store, ticket) in enumerate(zip(stores, tickets, strict=True)):
                _answered_once(store, ticket, f"S{n}-", 150)
        finally:
            if worker is not None:
                stop(worker)
            stop(server.process)
    assert len(nodes) == 2, nodes  # both nodes ran requests


def _nodes(services: Services) -> set[str]:
    """The processes that ran a batch's requests (a runner is host:pid:batch-n)."""
    assert services.engine is not None
    with services.engine.connect() as conn:
        found = conn.execute(
            sa.select(batch_items.c.worker).where(batch_items.c.worker.is_not(None)).distinct()
        ).scalars()
        return {w.split(":")[1] for w in found}


def test_serve_with_several_processes_runs_tickets(tmp_path: Path) -> None:
    """`vitrina serve --workers 2`: the server processes run no worker; the
    process that starts them runs the batch worker, as it runs the jobs'."""
    data = tmp_path / "data"
    server = start_serve(data, "--workers", "2", env=FAST)
    try:
        wait_ready(server)
        with _services(FAST, data) as services:
            store_id = services.metadata.stores.list_stores()[0].id
        store = Store(server.base, store_id, server.token())
        ticket = store.send(_creates("W", 20))
        assert wait_until(lambda: store.ticket(ticket)["status"] == "COMPLETED", 60)
        _answered_once(store, ticket, "W", 20)
    finally:
        stop(server.process)
