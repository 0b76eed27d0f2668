"""Bulk upload benchmark: `vitrina upload --concurrency 4` sends 200 generated
photos of 2 to 5 MB to a local `vitrina serve`, against the server's own
saturated upload rate measured in the same run (4 threads posting the same
files straight to the API, nothing else). Targets: at least 0.9x
the saturated rate, and the uploader's peak RSS under 150 MB.

    python bench/bulk.py [--files 200] [--concurrency 4]

Everything listens on 127.0.0.1 and is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sample_images as images  # noqa: E402 -- after the path is set
from tests.processes import start_serve, stop, wait_ready  # noqa: E402

SIZES = [(3000, 2250), (3264, 2448), (3648, 2736), (4032, 3024)]


def make_photos(folder: Path, count: int, categories: list[int]) -> int:
    total = 0
    for n, category in enumerate(categories[:count]):
        width, height = SIZES[n % len(SIZES)]
        data = images.photo(width, height, seed=n % 16 + 1).jpegsave_buffer(Q=93)
        (folder / f"{category}.jpg").write_bytes(data)
        total += len(data)
    return total


def saturated(base: str, token: str, store: int, folder: Path, threads: int) -> float:
    files = sorted(folder.glob("*.jpg"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}

    def send(path: Path) -> None:
        with httpx.Client(timeout=120) as http, path.open("rb") as body:
            answer = http.post(
                f"{base}/api/v3/{store}/categories/{path.stem}/image", content=body, headers=headers
            )
            answer.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, files))
    return len(files) / (time.perf_counter() - started)


def _high_water(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def bulk(base: str, token: str, store: int, folder: Path, concurrency: int) -> tuple[float, int]:
    (folder / ".vitrina-upload.json").unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "vitrina", "upload", str(folder), "--url", base,
        "--store", str(store), "--concurrency", str(concurrency), "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env={**os.environ, "VITRINA_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # VmHWM of the uploader's own memory: rusage from wait4 would report the
    # high-water mark inherited from this (large) process at fork.
    peak = 0
    while process.poll() is None:
        peak = max(peak, _high_water(process.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"vitrina upload failed with {process.returncode}")
    files = len(list(folder.glob("*.jpg")))
    return files / elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-bulk-"))
    server = start_serve(work / "data", env={"VITRINA_RATE_LIMIT_PER_MINUTE": "0"})
    try:
        wait_ready(server)
        token, base = server.token(), server.base
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
            categories = [
                http.post(f"{base}/api/v3/1/categories", json={"name": f"C{n}"}).json()["id"]
                for n in range(args.files)
            ]
        photos = work / "photos"
        photos.mkdir()
        print(f"generating {args.files} photos ...")
        total = make_photos(photos, args.files, categories)
        print(f"{args.files} photos, {total / args.files / 1e6:.1f} MB each on average")
        floor = saturated(base, token, 1, photos, args.concurrency)
        rate, peak = bulk(base, token, 1, photos, args.concurrency)
        floor_again = saturated(base, token, 1, photos, args.concurrency)
    finally:
        stop(server.process)
        shutil.rmtree(work, ignore_errors=True)
    baseline = (floor + floor_again) / 2
    verdict = "meets" if rate / baseline >= 0.9 else "MISSES"
    print(
        f"saturated API, {args.concurrency} threads   {floor:6.2f} and {floor_again:6.2f} files/s"
    )
    print(f"vitrina upload --concurrency {args.concurrency}  {rate:6.2f} files/s")
    print(f"ratio                            {rate / baseline:6.2f}x  {verdict} target 0.9x")
    memory = "meets" if peak < 150e6 else "MISSES"
    print(f"uploader peak RSS                {peak / 1e6:6.1f} MB  {memory} target 150 MB")


if __name__ == "__main__":
    main()
