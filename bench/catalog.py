"""Catalogue-size benchmark: what reads and writes cost as a store grows, on
a `vitrina serve` process (SQLite) through HTTP. For stores of 1k, 5k, 20k
and 100k categories it prints a read without a write, the first read after
a write, a PUT, a PUT followed by a search, a keyword search, the create
rate of 4 clients, and the server's RSS for the store, each also as a ratio
against the 1k store of the same run. Targets, at 20k against
1k: first read after a write <= 2x a read without one, PUT <= 2x, create
rate >= 0.8x, keyword search < 3x.

Then webhooks: the create rate of a 1k store with an app subscribed to its
events (delivered by the server's own worker to a fast receiver on
127.0.0.1, bench/webhooks.py's) against a 1k store without one, measured in
turns in the same run (target >= 0.9x).

    python bench/catalog.py [--sizes 1000,5000,20000,100000] [--runs 41]

The categories are written straight through the metadata store (the same
SQLite file), not over HTTP. Everything listens on 127.0.0.1 and is stopped
by pid at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import start_serve, stop, wait_ready  # noqa: E402 -- after the path is set

from bench.webhooks import fast_receiver  # noqa: E402
from vitrina.bootstrap import Services, build_services  # noqa: E402
from vitrina.domain.values import SCOPES, CategoryChanges  # noqa: E402
from vitrina.settings import Settings  # noqa: E402
from vitrina.usecases import apps  # noqa: E402
from vitrina.usecases.tokens import create_token  # noqa: E402

LOOPBACK_HOOKS = {
    "VITRINA_WEBHOOK_ALLOW_HTTP": "true",
    "VITRINA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
}


def fill(settings: Settings, size: int) -> tuple[int, str, list[int]]:
    """A store of ``size`` categories: departments of 99 shelves each."""
    with build_services(settings) as services:
        store = services.metadata.stores.create_store(f"{size}", "https://shop.example.com")
        token, _ = create_token(services.metadata, store.id, frozenset(SCOPES))
        catalog = services.metadata.catalog
        ids: list[int] = []
        while len(ids) < size:
            [parent], _ = catalog.create_categories(
                store.id, [CategoryChanges(name=f"Department {len(ids)}", description="shelves")]
            )
            rows = [
                CategoryChanges(name=f"Shelf {len(ids) + n}", parent_id=parent, description="goods")
                for n in range(min(99, size - len(ids) - 1))
            ]
            ids += [parent, *catalog.create_categories(store.id, rows)[0]]
        catalog.update_category(store.id, ids[len(ids) // 2], CategoryChanges(name="Unique needle"))
    return store.id, token, ids


def timed(action: Callable[[], object], runs: int) -> float:
    """Median milliseconds of ``action``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(
    base: str, pid: int, store: int, token: str, ids: list[int], runs: int
) -> dict[str, float]:
    api = f"{base}/api/v3/{store}"
    http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    target = ids[len(ids) // 3]
    before = rss(pid)
    http.get(f"{api}/categories/{target}").raise_for_status()  # loads the store
    figures = {"rss_mb": (rss(pid) - before) / 1e6}
    figures["read"] = timed(lambda: http.get(f"{api}/categories/{target}"), runs)
    counter = iter(range(10**9))

    def write_then_read() -> float:
        http.put(f"{api}/categories/{ids[7]}", json={"description": f"v{next(counter)}"})
        started = time.perf_counter()
        http.get(f"{api}/categories/{target}").raise_for_status()
        return (time.perf_counter() - started) * 1000

    figures["read_after_write"] = statistics.median(write_then_read() for _ in range(runs))
    figures["put"] = timed(
        lambda: http.put(f"{api}/categories/{ids[9]}", json={"description": f"p{next(counter)}"}),
        runs,
    )

    def put_and_search() -> None:
        http.put(f"{api}/categories/{ids[11]}", json={"description": f"s{next(counter)}"})
        http.get(f"{api}/categories", params={"limit": 100}).raise_for_status()

    figures["put_search"] = timed(put_and_search, runs)
    figures["keyword"] = timed(
        lambda: http.get(f"{api}/categories", params={"keyword": "unique needle"}), runs
    )
    figures["create_rate"] = create_rate(api, token, ids[0], 3)
    http.close()
    return figures


def create_rate(api: str, token: str, parent: int, seconds: float) -> float:
    """Categories created per second by 4 clients."""
    made = [0]
    deadline = time.monotonic() + seconds

    def creator() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as own:
            while time.monotonic() < deadline:
                own.post(f"{api}/categories", json={"name": "new", "parentId": parent})
                made[0] += 1

    threads = [threading.Thread(target=creator) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made[0] / (time.perf_counter() - started)


def webhook_rates(
    base: str, settings: Settings, receiver: str, turns: int
) -> tuple[float, float, float]:
    """The median create rate of a 1k store without an app, and of one with
    an app subscribed, measured in turns (which goes first alternates, so a
    drift of the machine's load favours neither); before each measure the
    worker has sent every event so far, so a turn pays for its own
    deliveries only. Also the share of a turn's events delivered within it."""
    store_plain, token_plain, ids_plain = fill(settings, 1000)
    store_hooked, token_hooked, ids_hooked = fill(settings, 1000)
    hooks = settings.replace(webhook_allow_http=True, webhook_allow_networks=("127.0.0.0/8",))
    without, with_app, kept_up = [], [], []
    with build_services(hooks) as services:
        apps.create(services, store_hooked, "Receiver", webhook_url=receiver)
        plain = f"{base}/api/v3/{store_plain}"
        hooked = f"{base}/api/v3/{store_hooked}"

        def plain_turn() -> None:
            settle(services)
            without.append(create_rate(plain, token_plain, ids_plain[0], 3))

        def hooked_turn() -> None:
            before = settle(services)
            rate = create_rate(hooked, token_hooked, ids_hooked[0], 3)
            with_app.append(rate)
            kept_up.append((delivered(services) - before) / (rate * 3))

        for turn in range(turns):
            order = (plain_turn, hooked_turn) if turn % 2 == 0 else (hooked_turn, plain_turn)
            for measure in order:
                measure()
    pairs = [f"{a:.0f}/{b:.0f}" for a, b in zip(without, with_app, strict=True)]
    print("turns (without/with):", pairs, file=sys.stderr)
    return statistics.median(without), statistics.median(with_app), statistics.median(kept_up)


def delivered(services: Services) -> int:
    counts, _ = services.metadata.webhooks.webhook_counts()
    return counts.get("delivered", 0)


def settle(services: Services) -> int:
    """Wait (a minute at most) until no webhook delivery is waiting; how many
    are delivered."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts, _ = services.metadata.webhooks.webhook_counts()
        if not counts.get("pending") and not counts.get("sending"):
            break
        time.sleep(0.1)
    return delivered(services)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,5000,20000,100000")
    parser.add_argument("--runs", type=int, default=41)
    parser.add_argument("--turns", type=int, default=3, help="create-rate turns for webhooks")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-catalog-"))
    results: dict[int, dict[str, float]] = {}
    with fast_receiver() as receiver:
        env = {
            "VITRINA_RATE_LIMIT_PER_MINUTE": "0",
            **LOOPBACK_HOOKS,
        }
        server = start_serve(work / "data", env=env)
        try:
            wait_ready(server)
            settings = Settings(data_dir=work / "data")
            for size in sizes:
                print(f"filling a store of {size} categories ...", flush=True)
                store, token, ids = fill(settings, size)
                results[size] = measure(
                    server.base, server.process.pid, store, token, ids, args.runs
                )
            print("create rate with an app subscribed to webhooks, and without ...", flush=True)
            without, with_app, kept_up = webhook_rates(server.base, settings, receiver, args.turns)
        finally:
            stop(server.process)
            shutil.rmtree(work, ignore_errors=True)
    if sizes:
        table(sizes, results)
    print(
        f"create rate, 4 clients: {without:.0f}/s without an app, {with_app:.0f}/s with one "
        f"subscribed: {with_app / without:.2f}x (target >= 0.9); events delivered during "
        f"the writes: {kept_up:.0%} (the rest right after)"
    )


def table(sizes: list[int], results: dict[int, dict[str, float]]) -> None:
    rows = [
        ("read without a write (ms)", "read"),
        ("first read after a write (ms)", "read_after_write"),
        ("PUT (ms)", "put"),
        ("PUT then a search (ms)", "put_search"),
        ("keyword search (ms)", "keyword"),
        ("create rate, 4 clients (/s)", "create_rate"),
        ("server RSS for the store (MB)", "rss_mb"),
    ]
    first = sizes[0]
    print(f"\n{'':32}" + "".join(f"{size:>16,}" for size in sizes))
    for label, key in rows:
        cells = []
        for size in sizes:
            value, ratio = results[size][key], results[size][key] / max(results[first][key], 1e-9)
            cells.append(f"{value:9.1f} {ratio:5.2f}x")
        print(f"{label:32}" + "".join(f"{c:>16}" for c in cells))
    for size in sizes:
        figures = results[size]
        ratio = figures["read_after_write"] / figures["read"]
        print(f"{size:>7,}: first read after a write / read without {ratio:.2f}x (target <= 2)")


if __name__ == "__main__":
    main()
