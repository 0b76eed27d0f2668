"""Upload benchmark: every figure is a ratio against a baseline measured in the
same run, on the same bytes, so a busy machine moves both sides together.

    python bench/upload.py [--runs N] [--vs-thumbor]

Prints:
- median latency of an HTTP upload (12 MP JPEG; 1200x1200 PNG with alpha) and
  its ratio to the same pipeline called in-process (target <= 1.3);
- uploads/s with 2 server processes against 1 (reported; one process already
  uses both cores, so there is no target);
- peak server RSS with 8 concurrent 20 MB uploads, and its ratio to the idle
  server (target: under 600 MB); the same with 8 concurrent 10000x5000 PNGs
  of 160 KB each (pixel-heavy, small on the wire);
- with --vs-thumbor: the HTTP upload against thumbor producing the same three
  fits of the same JPEG from its file loader (target <= 0.5).

Servers listen on 127.0.0.1 only and are stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the servers are started with the tests' helpers


def natural_jpeg(width: int, height: int, quality: int = 90, seed: int = 7) -> bytes:
    """A photo-like picture: smooth shapes plus fine noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            127 + 100 * np.sin(x / 211 + y / 97),
            127 + 100 * np.cos(x / 143 - y / 173),
            127 + 100 * np.sin((x + y) / 301),
        ],
        axis=2,
    )
    noise = rng.normal(0, 18, (height, width, 3)).astype(np.float32)
    array = np.clip(base + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=quality)
    return out.getvalue()


def alpha_png(size: int = 1200, seed: int = 3) -> bytes:
    """A product shot: a noisy photo-like disc on a transparent background."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 12, (size, size)).astype(np.float32)
    x, y = x + noise, y + noise
    array = np.stack(
        [
            x * 255 / size,
            y * 255 / size,
            np.full_like(x, 90),
            255 * ((x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 2.2) ** 2),
        ],
        axis=2,
    ).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(array, "RGBA").save(out, "PNG")
    return out.getvalue()


class Server:
    """A running `vitrina serve`, and the memory its processes use."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, token: str) -> None:
        self.process = process
        self.base = base
        self.token = token

    def pids(self) -> list[int]:
        """The server process and its children (the worker processes)."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            total += int(found.group(1)) if found else 0
        return total / 1024


@contextmanager
def vitrina(workers: int, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    from tests.processes import start_serve, stop, wait_ready

    data = Path(tempfile.mkdtemp(prefix="vitrina-bench-"))
    # every upload processed: the bench posts the same photos again
    env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "0", "VITRINA_DEDUP_UPLOADS": "false"}
    env.update(extra_env or {})
    started = start_serve(data / "data", "--workers", str(workers), env=env)
    try:
        wait_ready(started)
        yield Server(started.process, started.base, started.token())
    finally:
        stop(started.process, timeout=20)
        shutil.rmtree(data, ignore_errors=True)


def new_category(client: httpx.Client) -> int:
    response = client.post("/api/v3/1/categories", json={"name": "Bench"})
    response.raise_for_status()
    category_id: int = response.json()["id"]
    return category_id


def upload(client: httpx.Client, category_id: int, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post(
        f"/api/v3/1/categories/{category_id}/image",
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"upload failed: {response.status_code} {response.text}")
    return elapsed


def client_for(server: Server) -> httpx.Client:
    return httpx.Client(
        base_url=server.base,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=120,
    )


def http_median(server: Server, body: bytes, runs: int) -> float:
    with client_for(server) as client:
        category_id = new_category(client)
        upload(client, category_id, body)  # warm up
        return statistics.median(upload(client, category_id, body) for _ in range(runs))


def in_process_median(body: bytes, runs: int) -> float:
    """The same use case the endpoint calls, on the same bytes, with no HTTP."""
    from vitrina.backends.metadata import migrate
    from vitrina.bootstrap import build_services
    from vitrina.domain.values import CategoryChanges
    from vitrina.settings import Settings
    from vitrina.usecases import category_images as images

    data = Path(tempfile.mkdtemp(prefix="vitrina-bench-inproc-"))
    services = build_services(Settings(data_dir=data, dedup_uploads=False))
    assert services.engine is not None
    migrate.upgrade(services.engine)
    try:
        store = services.metadata.stores.create_store("Bench", "http://bench")
        category_id = services.metadata.catalog.create_category(
            store.id, CategoryChanges(name="Bench")
        )[0]
        source = data / "source"

        def once() -> float:
            started = time.perf_counter()
            source.write_bytes(body)  # the HTTP side spools the body to a file too
            images.upload(services, store, category_id, source)
            return time.perf_counter() - started

        once()
        return statistics.median(once() for _ in range(runs))
    finally:
        services.close()
        shutil.rmtree(data, ignore_errors=True)


def throughput(server: Server, body: bytes, uploads: int, clients: int) -> float:
    with client_for(server) as setup:
        categories = [new_category(setup) for _ in range(clients)]

    def worker(index: int) -> None:
        with client_for(server) as client:
            for _ in range(uploads // clients):
                upload(client, categories[index], body)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return (uploads // clients * clients) / (time.perf_counter() - started)


def peak_rss(server: Server, body: bytes, concurrent: int = 8) -> tuple[float, float]:
    idle = server.rss_mb()
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_mb())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with client_for(server) as setup:
        categories = [new_category(setup) for _ in range(concurrent)]
    try:
        with ThreadPoolExecutor(concurrent) as pool:
            list(pool.map(lambda c: upload(client_for(server), c, body), categories))
    finally:
        done.set()
        sampler.join()
    return idle, peak


def pixel_heavy_png() -> bytes:
    """10000x5000 pixels in about 160 KB: small to send, 150 MB to decode whole."""
    import pyvips

    flat = pyvips.Image.black(10000, 5000, bands=3).new_from_image([120, 160, 200])
    flat = flat.cast("uchar").copy(interpretation="srgb")
    flat = flat.draw_rect([200, 30, 30], 1000, 1000, 3000, 2000, fill=True)
    data: bytes = flat.pngsave_buffer(compression=9)
    return data


def thumbor_three_fits(jpeg: bytes, runs: int) -> float:
    """Median time for thumbor to produce the three fits (three requests, as a
    storefront would ask for them), in its own throwaway environment."""
    home = Path(tempfile.mkdtemp(prefix="thumbor-bench-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
        pip = home / "venv" / "bin" / "pip"
        print("installing thumbor into a throwaway environment ...", flush=True)
        subprocess.run(
            [str(pip), "install", "--quiet", "thumbor"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (home / "images").mkdir()
        (home / "images" / "photo.jpg").write_bytes(jpeg)
        conf = home / "thumbor.conf"
        conf.write_text(
            f"LOADER = 'thumbor.loaders.file_loader'\nFILE_LOADER_ROOT_PATH = '{home / 'images'}'\n"
            "STORAGE = 'thumbor.storages.no_storage'\nRESULT_STORAGE = None\n"
            "ALLOW_UNSAFE_URL = True\nQUALITY = 85\nMAX_AGE = 0\n"
        )
        from tests.processes import free_port, wait_for

        port = free_port()
        process = subprocess.Popen(
            [
                str(home / "venv" / "bin" / "thumbor"),
                "-p",
                str(port),
                "-i",
                "127.0.0.1",
                "-c",
                str(conf),
                "-l",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}/unsafe"
            if not wait_for(f"{base}/fit-in/10x10/photo.jpg", process, timeout=60):
                raise SystemExit("thumbor did not start")

            def once() -> float:
                started = time.perf_counter()
                for box in (1200, 800, 400):
                    httpx.get(f"{base}/fit-in/{box}x{box}/photo.jpg", timeout=60).raise_for_status()
                return time.perf_counter() - started

            once()
            return statistics.median(once() for _ in range(runs))
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def scaled_backends() -> Iterator[dict[str, str]]:
    """PostgreSQL and SeaweedFS on loopback, started as the tests start them."""
    from tests.services import postgres_server, seaweed_server

    with postgres_server() as pg, seaweed_server() as s3, pg.database() as url:
        yield {"VITRINA_DATABASE_URL": url, **s3.environment("bench")}


def line(label: str, value: str, verdict: str = "") -> None:
    print(f"  {label:<52} {value:>14}  {verdict}")


def check(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="uploads per latency figure")
    parser.add_argument("--throughput-uploads", type=int, default=48)
    parser.add_argument("--vs-thumbor", action="store_true")
    parser.add_argument(
        "--scaled", action="store_true", help="also run on PostgreSQL + S3 (SeaweedFS)"
    )
    args = parser.parse_args()

    jpeg, png = natural_jpeg(4000, 3000), alpha_png()
    big = natural_jpeg(4000, 3000, quality=100)
    big = big + b"\0" * (20 * 1024 * 1024 - len(big))  # a 20 MiB body: the image, then padding
    print(
        f"inputs: 4000x3000 JPEG {len(jpeg) / 1e6:.1f} MB; 1200x1200 PNG+alpha "
        f"{len(png) / 1e6:.1f} MB; 20 MiB body for the memory test; {os.cpu_count()} cores"
    )

    results: dict[str, float] = {}
    with vitrina(workers=1) as one:
        for name, body in (("12 MP JPEG", jpeg), ("1200x1200 PNG+alpha", png)):
            http = http_median(one, body, args.runs)
            local = in_process_median(body, args.runs)
            results[name] = http
            print(f"{name}:")
            line("HTTP upload, median", f"{http * 1000:.0f} ms")
            line("same pipeline in-process, median", f"{local * 1000:.0f} ms")
            line(
                "ratio HTTP / in-process (target <= 1.3)",
                f"{http / local:.2f}x",
                check(http / local <= 1.3),
            )
        single = throughput(one, jpeg, args.throughput_uploads, clients=4)
        single_one_client = throughput(one, jpeg, args.throughput_uploads // 2, clients=1)
        idle, peak = peak_rss(one, big)
        heavy_idle, heavy_peak = peak_rss(one, pixel_heavy_png())
    with vitrina(workers=2) as two:
        double = throughput(two, jpeg, args.throughput_uploads, clients=4)
        double_two_clients = throughput(two, jpeg, args.throughput_uploads // 2, clients=2)
    print("throughput, 12 MP JPEG:")
    line("1 server process, 1 client", f"{single_one_client:.1f} up/s")
    line("2 server processes, 2 clients", f"{double_two_clients:.1f} up/s")
    ratio = double_two_clients / single_one_client
    line("ratio, one client per process", f"{ratio:.2f}x")
    line("1 server process, 4 clients (saturated)", f"{single:.1f} up/s")
    line("2 server processes, 4 clients (saturated)", f"{double:.1f} up/s")
    line("ratio, saturated", f"{double / single:.2f}x")
    print("memory, 8 concurrent 20 MiB uploads, 1 server process:")
    line("idle RSS", f"{idle:.0f} MB")
    line("peak RSS (target < 600 MB)", f"{peak:.0f} MB", check(peak < 600))
    line("ratio peak / idle", f"{peak / idle:.2f}x")
    print("memory, 8 concurrent uploads of a 10000x5000 PNG of 160 KB, 1 server process:")
    line("idle RSS", f"{heavy_idle:.0f} MB")
    line("peak RSS (target < 600 MB)", f"{heavy_peak:.0f} MB", check(heavy_peak < 600))
    if args.scaled:
        with scaled_backends() as env, vitrina(workers=1, extra_env=env) as scaled:
            scaled_http = http_median(scaled, jpeg, args.runs)
        embedded = results["12 MP JPEG"]
        print("PostgreSQL + S3 (SeaweedFS on loopback) against SQLite + local files, 12 MP JPEG:")
        line("HTTP upload, median, PostgreSQL + S3", f"{scaled_http * 1000:.0f} ms")
        line("HTTP upload, median, SQLite + local files", f"{embedded * 1000:.0f} ms")
        line("ratio scaled / embedded", f"{scaled_http / embedded:.2f}x")
    if args.vs_thumbor:
        thumbor = thumbor_three_fits(jpeg, max(5, args.runs // 2))
        http = results["12 MP JPEG"]
        print("against thumbor, same 12 MP JPEG, three fits:")
        line("thumbor, median of the three requests", f"{thumbor * 1000:.0f} ms")
        line(
            "ratio vitrina HTTP upload / thumbor (target <= 0.5)",
            f"{http / thumbor:.2f}x",
            check(http / thumbor <= 0.5),
        )


if __name__ == "__main__":
    main()
