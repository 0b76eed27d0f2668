"""Where an upload's time goes: the mean of each stage (spool, probe,
decode_fit, store, commit) from vitrina's own metrics, on the embedded
defaults (SQLite + a local folder) and on PostgreSQL + S3 (SeaweedFS), for
the same 12-megapixel JPEG uploaded one at a time, in the same run.

    python bench/stages.py [--uploads 20]

Everything listens on 127.0.0.1 and is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import start_serve, stop, wait_ready  # noqa: E402

from bench.upload import natural_jpeg, scaled_backends  # noqa: E402 -- after the path is set

STAGES = ("spool", "probe", "decode_fit", "store", "commit")
TOKEN = "bench-metrics"


def measure(env: dict[str, str], photo: bytes, uploads: int) -> tuple[dict[str, float], float]:
    """(mean seconds per stage, mean seconds per whole upload as the client saw it)."""
    home = Path(tempfile.mkdtemp(prefix="vitrina-bench-stages-"))
    server = start_serve(home / "data", env={**env, "VITRINA_METRICS_TOKEN": TOKEN})
    try:
        wait_ready(server)
        auth = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=f"{server.base}/api/v3/1", headers=auth, timeout=120) as http:
            category = http.post("/categories", json={"name": "Stages"}).json()["id"]
            http.post(f"/categories/{category}/image", content=photo).raise_for_status()  # warm
            scrape = httpx.get(
                f"{server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            before = _sums(scrape.text)
            started = time.perf_counter()
            for _ in range(uploads):
                http.post(f"/categories/{category}/image", content=photo).raise_for_status()
            whole = (time.perf_counter() - started) / uploads
            scrape = httpx.get(
                f"{server.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        after = _sums(scrape.text)
        return {s: (after[s] - before[s]) / uploads for s in STAGES}, whole
    finally:
        stop(server.process)
        shutil.rmtree(home, ignore_errors=True)


def _sums(text: str) -> dict[str, float]:
    sums = {}
    for stage in STAGES:
        found = re.search(rf'vitrina_upload_stage_seconds_sum{{stage="{stage}"}} (\S+)', text)
        assert found, f"no {stage} stage in the metrics"
        sums[stage] = float(found[1])
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    photo = natural_jpeg(4000, 3000)
    env = {  # the same photo each time: dedup off, so that each is processed
        "VITRINA_RATE_LIMIT_PER_MINUTE": "0",
        "VITRINA_REQUEST_LOG": "false",
        "VITRINA_DEDUP_UPLOADS": "false",
    }
    embedded, embedded_whole = measure(env, photo, args.uploads)
    with scaled_backends() as backends:
        scaled, scaled_whole = measure({**env, **backends}, photo, args.uploads)
    print(f"{args.uploads} uploads of a 12 MP JPEG ({len(photo) / 1e6:.1f} MB), mean ms:")
    print(f"  {'stage':<12}{'embedded':>10}{'PG + S3':>10}{'ratio':>8}")
    for stage in STAGES:
        a, b = embedded[stage] * 1000, scaled[stage] * 1000
        print(f"  {stage:<12}{a:>10.1f}{b:>10.1f}{b / max(a, 1e-9):>7.2f}x")
    a, b = embedded_whole * 1000, scaled_whole * 1000
    print(f"  {'whole':<12}{a:>10.1f}{b:>10.1f}{b / a:>7.2f}x  (target <= 1.3x)")


if __name__ == "__main__":
    main()
