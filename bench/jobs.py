"""What claiming an async-upload job costs as the queue grows: the median time
of a claim with 100,000 jobs waiting, as a ratio against the same claim with
1,000 waiting, in the same run (target: about 1, the claim reads indexes
only). Each queue is measured with its jobs in one store and spread over
50 stores, with some jobs of each store running, as under load.

    python bench/jobs.py [--claims 200] [--postgres]

`--postgres` measures on a throwaway PostgreSQL cluster on loopback (the
tests' own, tests/services.py) instead of SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vitrina.backends.metadata import migrate  # noqa: E402
from vitrina.backends.metadata.schema import jobs  # noqa: E402
from vitrina.bootstrap import Services, build_services  # noqa: E402 -- after the path is set
from vitrina.settings import Settings  # noqa: E402


@contextmanager
def queue(settings: Settings, count: int, stores: int) -> Iterator[Services]:
    """Services over a fresh database with ``count`` queued jobs over
    ``stores`` stores, and two jobs of every store running."""
    services = build_services(settings)
    assert services.engine is not None
    migrate.upgrade(services.engine)
    stamp = datetime.now(UTC) - timedelta(minutes=5)
    rows = [
        {
            "store_id": 1 + n % stores,
            "category_id": 1,
            "image_id": 1000 + 4 * n,
            "url": f"https://images.example/{n}.jpg",
            "state": "running" if n < 2 * stores else "queued",
            "attempts": 0,
            "run_at": stamp + timedelta(milliseconds=n),
            "lease_until": stamp + timedelta(hours=1) if n < 2 * stores else None,
            "created_at": stamp,
            "updated_at": stamp,
        }
        for n in range(count + 2 * stores)
    ]
    with services.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(jobs.insert(), rows[start : start + 5000])
    try:
        yield services
    finally:
        services.close()


def claim_ms(services: Services, claims: int) -> float:
    times = []
    for n in range(claims):
        started = time.perf_counter()
        job = services.metadata.jobs.claim_job(f"bench-{n}", 600)
        times.append((time.perf_counter() - started) * 1000)
        assert job is not None
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vitrina-bench-jobs-")))
        server = None
        if args.postgres:
            from tests.services import postgres_server

            server = stack.enter_context(postgres_server())
        database = "PostgreSQL" if server else "SQLite"
        print(f"claim_job on {database}, median of {args.claims} claims")
        for stores in (1, 50):
            figures = {}
            for count in (1_000, 100_000):
                with ExitStack() as run:
                    url = run.enter_context(server.database()) if server else ""
                    settings = Settings(
                        data_dir=home / f"{stores}-{count}", database_url=url, run_jobs=False
                    )
                    services = run.enter_context(queue(settings, count, stores))
                    figures[count] = claim_ms(services, args.claims)
            print(
                f"  {stores:>2} store(s): {figures[1_000]:.2f} ms at 1,000 jobs, "
                f"{figures[100_000]:.2f} ms at 100,000: "
                f"{figures[100_000] / figures[1_000]:.2f}x (target about 1)"
            )


if __name__ == "__main__":
    main()
