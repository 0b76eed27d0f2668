"""Webhook delivery throughput: how many events per second the sender gets
to a fast receiver on this machine (target >= 200/s), against a baseline in
the same run: the same signed requests POSTed straight to the same receiver
with httpx over one kept-alive connection, no database.

    python bench/webhooks.py [--events 3000] [--postgres]

The receiver is a bare ASGI app under uvicorn in a process of its own on
127.0.0.1 (answering 200 at once, counting what it got). The events are
category creations written through the metadata store, so each is an outbox
row as an API write leaves it; then a ``WebhookWorker`` (the one `vitrina
serve` and `vitrina worker` run, VITRINA_WEBHOOK_CONCURRENCY threads) sends
them all. `--postgres` uses a throwaway PostgreSQL cluster on loopback (the
tests' own, tests/services.py) instead of SQLite. Everything is stopped by
pid at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import free_port, stop, wait_for  # noqa: E402 -- after the path is set

from vitrina.backends.metadata import migrate  # noqa: E402
from vitrina.bootstrap import Services, build_services  # noqa: E402
from vitrina.domain.values import CategoryChanges  # noqa: E402
from vitrina.settings import Settings  # noqa: E402
from vitrina.usecases import apps  # noqa: E402
from vitrina.usecases.webhooks import WebhookWorker, payload, request_headers  # noqa: E402

TARGET = 200.0

_RECEIVER = """
import sys, uvicorn
count = 0
async def app(scope, receive, send):
    global count
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        count += 1
    body = str(count).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
"""


@contextmanager
def fast_receiver() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/hooks"
        if not wait_for(url, process, 30):
            raise SystemExit("the receiver did not start")
        yield url
    finally:
        stop(process)


def fill(services: Services, url: str, count: int) -> int:
    """A store with one app listening at ``url`` and ``count`` created categories."""
    store = services.metadata.stores.create_store("Bench", "https://shop.example.com").id
    apps.create(services, store, "Receiver", webhook_url=url)
    left = count - 1  # the app's install is an event too
    while left > 0:
        batch = [CategoryChanges(name=f"Category {n}") for n in range(min(500, left))]
        services.metadata.catalog.create_categories(store, batch)
        left -= len(batch)
    return store


def delivered(services: Services) -> int:
    counts, _ = services.metadata.webhooks.webhook_counts()
    return counts.get("delivered", 0)


def send_all(services: Services, url: str, count: int) -> float:
    """Events per second the worker delivers, all ``count`` of them (the
    receiver is asked how many it has, which costs the database nothing;
    then the database, that every outcome is recorded)."""
    worker = WebhookWorker(services)
    started = time.perf_counter()
    worker.start()
    try:
        with httpx.Client() as client:
            while int(client.get(url).text) < count:
                time.sleep(0.02)
        while delivered(services) < count:
            time.sleep(0.005)
    finally:
        worker.stop()
    return count / (time.perf_counter() - started)


def raw_rate(services: Services, store: int, url: str, count: int) -> float:
    """The same requests, signed and built by the same functions, POSTed
    with httpx over one kept-alive connection: no claim, no record."""
    deliveries = services.metadata.webhooks.list_deliveries(store, limit=count)
    [app] = services.metadata.apps.list_apps(store)
    requests = [(payload(d.event), dict(request_headers(app, d.event))) for d in deliveries]
    with httpx.Client(timeout=10) as client:
        started = time.perf_counter()
        for body, headers in requests:
            client.post(url, content=body, headers=headers).raise_for_status()
        return len(requests) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vitrina-bench-")))
        url = stack.enter_context(fast_receiver())
        database = ""
        if args.postgres:
            from tests.services import postgres_server

            database = stack.enter_context(stack.enter_context(postgres_server()).database())
        settings = Settings(
            data_dir=work,
            database_url=database,
            webhook_allow_http=True,
            webhook_allow_networks=("127.0.0.0/8",),
            job_poll_seconds=0.05,
        )
        services = stack.enter_context(build_services(settings))
        assert services.engine is not None
        migrate.upgrade(services.engine)
        store = fill(services, url, args.events)
        rate = send_all(services, url, args.events)
        baseline = raw_rate(services, store, url, args.events)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    threads = settings.webhook_concurrency
    print(f"{args.events} events, {backend}, {threads} sender threads")
    print(f"delivered by the worker: {rate:8.0f} events/s ({rate / TARGET:.2f}x the 200/s target)")
    print(f"raw httpx POSTs:         {baseline:8.0f} requests/s (one client, no database)")
    print(f"worker / raw POSTs:      {rate / baseline:8.2f}x")


if __name__ == "__main__":
    main()
