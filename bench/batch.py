"""Batch requests against single calls: 500 category creations sent as one
batch (POST /batch, then GET /batch?ticket=… until it is COMPLETED) against
the same 500 creations as single POST /categories calls, one after another
over one kept-alive connection (the baseline, measured in the same run
against the same server).

    python bench/batch.py [--requests 500] [--rounds 3] [--postgres]

Both go over real HTTP to `vitrina serve` on 127.0.0.1 (started here,
with the rate limit off: 500 calls in a few seconds are over Ecwid's 600
a minute either way). The batch's time is from its POST to the GET that
finds it COMPLETED, polled every 20 ms. `--postgres` uses a throwaway
PostgreSQL cluster on loopback (the tests' own, tests/services.py). Each
figure is the median of the rounds; every process is stopped by pid.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import start_serve, stop, wait_ready  # noqa: E402 -- after the path is set

POLL = 0.1  # seconds between two reads of the ticket


def singles(client: httpx.Client, api: str, names: list[str]) -> float:
    started = time.perf_counter()
    for name in names:
        answer = client.post(f"{api}/categories", json={"name": name})
        assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def batched(client: httpx.Client, api: str, names: list[str]) -> float:
    requests: list[dict[str, Any]] = [
        {"path": "/categories", "method": "POST", "body": {"name": name}} for name in names
    ]
    started = time.perf_counter()
    answer = client.post(f"{api}/batch", json=requests)
    assert answer.status_code == 200, answer.text
    ticket = answer.json()["ticket"]
    while True:
        found = client.get(f"{api}/batch", params={"ticket": ticket}).json()
        if found["status"] == "COMPLETED":
            break
        time.sleep(POLL)
    elapsed = time.perf_counter() - started
    statuses = {r["httpStatusCode"] for r in found["responses"]}
    assert statuses == {200} and found["completedRequests"] == len(names), statuses
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "0", "VITRINA_JOB_POLL_SECONDS": "0.05"}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vitrina-bench-")))
        if args.postgres:
            from tests.services import postgres_server

            url = stack.enter_context(stack.enter_context(postgres_server()).database())
            env["VITRINA_DATABASE_URL"] = url
        server = start_serve(work / "data", env=env)
        stack.callback(stop, server.process)
        wait_ready(server)
        store = server.output().split("Created the demo store #", 1)[1].split(" ", 1)[0]
        api = f"{server.base}/api/v3/{store}"
        headers = {"Authorization": f"Bearer {server.token()}"}
        single_times, batch_times = [], []
        with httpx.Client(headers=headers, timeout=120) as client:
            singles(client, api, [f"Warm-up {n}" for n in range(50)])
            batched(client, api, [f"Warm-up batch {n}" for n in range(50)])
            for r in range(args.rounds):
                names = [f"Round {r} item {n}" for n in range(args.requests)]
                single_times.append(singles(client, api, [f"{n} single" for n in names]))
                batch_times.append(batched(client, api, [f"{n} batched" for n in names]))
    single, batch = statistics.median(single_times), statistics.median(batch_times)
    count = args.requests
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{count} creations, {backend}, vitrina serve on loopback, median of {args.rounds}")
    print(f"single calls (baseline): {single:7.2f} s  {count / single:7.0f} creations/s")
    print(f"one batch:               {batch:7.2f} s  {count / batch:7.0f} creations/s")
    print(f"batch / single calls:    {batch / single:7.2f}x the time")


if __name__ == "__main__":
    main()
