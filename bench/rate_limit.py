"""What the shared rate limit costs: requests per second of `GET /profile`
with VITRINA_RATE_LIMIT_SHARED=true (one database write per request) against
the default per-process limit, on the same machine in the same run.

    python bench/rate_limit.py [--seconds 5] [--connections 16] [--scaled]

`--scaled` runs both on PostgreSQL + S3 (SeaweedFS). Needs `wrk`
(scripts/bench-deps.sh). Everything listens on 127.0.0.1 and is stopped by
pid at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import start_serve, stop, wait_ready  # noqa: E402

from bench.serve import wrk  # noqa: E402 -- after the path is set


def rate(env: dict[str, str], seconds: int, connections: int) -> float:
    home = Path(tempfile.mkdtemp(prefix="vitrina-bench-rate-"))
    server = start_serve(home / "data", env=env)
    try:
        wait_ready(server)
        made = subprocess.run(  # a token of its own (on PostgreSQL the store may exist already)
            [sys.executable, "-m", "vitrina", "token", "create", "--store", "1",
             "--data-dir", str(home / "data")],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
        return wrk(f"{server.base}/api/v3/1/profile", seconds, connections, headers)
    finally:
        stop(server.process)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scaled", action="store_true")
    args = parser.parse_args()
    with ExitStack() as stack:
        env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "1000000000", "VITRINA_REQUEST_LOG": "false"}
        if args.scaled:
            from bench.upload import scaled_backends

            env.update(stack.enter_context(scaled_backends()))
        local = rate(env, args.seconds, args.connections)
        shared = rate({**env, "VITRINA_RATE_LIMIT_SHARED": "true"}, args.seconds, args.connections)
        local_again = rate(env, args.seconds, args.connections)
    baseline = (local + local_again) / 2
    where = "PostgreSQL + S3" if args.scaled else "SQLite"
    print(f"GET /profile on {where}, wrk {args.connections} connections, {args.seconds} s each:")
    print(f"  per-process limit (default)   {local:8.0f} and {local_again:8.0f} req/s")
    print(f"  shared limit in the database  {shared:8.0f} req/s  {shared / baseline:.2f}x")
    cost = (1 / shared - 1 / baseline) * 1e6
    print(f"  cost per request              {cost:8.0f} µs of server time per request")


if __name__ == "__main__":
    main()
