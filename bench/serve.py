"""Read benchmark: requests per second of vitrina's `GET /categories/{id}`, of
a keyword search (12 of 60 categories match) and of its image files, each as
a ratio against a bare Starlette app on the same server in the same run (a
constant JSON body of the same size; StaticFiles on the same file). Targets
(DESIGN.md): all at least 0.5, with vitrina's default settings (access log
and request log on, at the info level, every request counted by the rate
limiter); the reads are measured again with both logs off, for reference.

Renditions (docs/images.md): the latency of a first request for an AVIF or a
width (made on that request) and of the next (stored), against a request
for the stored JPEG in the same run; and the AVIF file's req/s through wrk
(with a browser's Accept) against StaticFiles.

    python bench/serve.py [--seconds 5] [--connections 32]

Needs `wrk` (Debian: apt-get install wrk; scripts/bench-deps.sh installs it).
Everything listens on 127.0.0.1 and is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sample_images as images  # noqa: E402 -- after the path is set
from tests.processes import (  # noqa: E402
    Server,
    free_port,
    start_serve,
    stop,
    wait_for,
    wait_ready,
)

# vitrina as it ships: the access log and the request log on, at the info
# level; the rate limiter counts every request, with a limit wrk cannot reach
_DEFAULTS = {"VITRINA_LOG_LEVEL": "info", "VITRINA_RATE_LIMIT_PER_MINUTE": "1000000000"}
_LOGGING_OFF = {"VITRINA_ACCESS_LOG": "false", "VITRINA_REQUEST_LOG": "false"}


def port_of(server: Server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if not found or errors:
        raise SystemExit(f"wrk failed against {url}:\n{output}")
    return float(found.group(1))


BROWSER = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def _timed(url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = httpx.get(url, headers=headers, timeout=60, follow_redirects=True)
    answer.raise_for_status()
    return time.perf_counter() - started


def rendition_latency(api: str, headers: dict[str, str], photos: int = 5) -> str:
    """Medians over ``photos`` new uploads (ms): the stored JPEG, the first
    AVIF request, the next, and a first ?width=640 AVIF; the last upload's
    image URL is returned."""
    rows: dict[str, list[float]] = {"jpeg": [], "first": [], "next": [], "width": []}
    url = ""
    for n in range(photos):
        category = httpx.post(
            f"{api}/categories", json={"name": f"Photo {n}"}, headers=headers
        ).json()["id"]
        photo = images.photo(2400, 1800, seed=n + 1).jpegsave_buffer(Q=90)
        httpx.post(
            f"{api}/categories/{category}/image", content=photo, headers=headers, timeout=60
        ).raise_for_status()
        url = httpx.get(f"{api}/categories/{category}", headers=headers).json()["imageUrl"]
        _timed(url, {})  # warm: the JPEG is read once
        rows["jpeg"].append(_timed(url, {}))
        rows["first"].append(_timed(url, {"Accept": BROWSER}))
        rows["next"].append(_timed(url, {"Accept": BROWSER}))
        rows["width"].append(_timed(url + "?width=640", {"Accept": BROWSER}))
    median = {k: statistics.median(v) * 1000 for k, v in rows.items()}
    base = median["jpeg"]
    print(f" renditions (1200 px image of a 2400x1800 photo; median of {photos} uploads):")
    print(f"  {'stored JPEG':<36} {base:8.1f} ms  1.00x  (baseline)")
    for key, label in (
        ("first", "AVIF, first request (made then)"),
        ("next", "AVIF, next request (stored)"),
        ("width", "?width=640 AVIF, first request"),
    ):
        print(f"  {label:<36} {median[key]:8.1f} ms  {median[key] / base:5.2f}x")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--scaled", action="store_true", help="run vitrina on PostgreSQL + S3 (SeaweedFS)"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        env = dict(_DEFAULTS)
        if args.scaled:
            from bench.upload import scaled_backends

            env.update(stack.enter_context(scaled_backends()))
        measure(args, env)


def measure(args: argparse.Namespace, env: dict[str, str]) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk (or scripts/bench-deps.sh)")

    home = Path(tempfile.mkdtemp(prefix="vitrina-serve-bench-"))
    server = start_serve(home / "data", env=env)
    bare = None
    try:
        wait_ready(server)
        token = server.token()
        headers = {"Authorization": f"Bearer {token}"}
        api = f"{server.base}/api/v3/1"
        category = httpx.post(
            f"{api}/categories", json={"name": "Toys", "productIds": [1, 2, 3]}, headers=headers
        ).json()["id"]
        httpx.post(
            f"{api}/categories/{category}/image",
            content=images.jpeg(1600, 1200),
            headers=headers,
            timeout=60,
        ).raise_for_status()
        body = httpx.get(f"{api}/categories/{category}", headers=headers).json()
        file_url = body["thumbnailUrl"]
        (home / "const.json").write_text(json.dumps(body))
        for n in range(60):  # a small storefront: 12 of these match the search
            name = f"{'Wooden' if n % 5 == 0 else 'Plastic'} toy {n}"
            httpx.post(
                f"{api}/categories", json={"name": name, "parentId": category}, headers=headers
            ).raise_for_status()
        search = f"{api}/categories?keyword=wooden"
        found = httpx.get(search, headers=headers).json()
        assert found["count"] == 12, found["count"]
        (home / "search.json").write_text(json.dumps(found))
        static = home / "static"
        static.mkdir()
        (static / "thumb.jpg").write_bytes(httpx.get(file_url).content)

        port = free_port()
        bare_env = {
            **os.environ,
            "BARE_JSON": str(home / "const.json"),
            "BARE_SEARCH_JSON": str(home / "search.json"),
            "BARE_STATIC": str(static),
        }
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=bare_env,
        )
        bare_base = f"http://127.0.0.1:{port}"
        if not wait_for(bare_base + "/const", bare, timeout=30):
            raise SystemExit("the bare app did not start")

        def row(label: str, ours: float, base: float, target: bool = True) -> None:
            ratio = ours / base
            verdict = "meets target" if ratio >= 0.5 else "MISSES target"
            verdict = verdict if target else "(for reference: not a default)"
            print(f"  {label:<48} {ours:>9.0f} vs {base:>9.0f} req/s  {ratio:.2f}x  {verdict}")

        print(
            f"wrk, 2 threads, {args.connections} connections, {args.seconds} s each, "
            f"1 server process on {'PostgreSQL + S3' if args.scaled else 'SQLite + local files'}:"
        )
        for label, logging in (("defaults", {}), ("logging off", _LOGGING_OFF)):
            if logging:  # the same data, served again without the access and request logs
                stop(server.process)
                server = start_serve(home / "data", env={**env, **logging}, port=port_of(server))
                wait_ready(server)
            print(f" {label}:")
            category_rps = wrk(
                f"{api}/categories/{category}", args.seconds, args.connections, headers
            )
            const_rps = wrk(f"{bare_base}/const", args.seconds, args.connections, {})
            row("GET /categories/{id} vs constant", category_rps, const_rps)
            search_rps = wrk(search, args.seconds, args.connections, headers)
            const_search_rps = wrk(f"{bare_base}/const-search", args.seconds, args.connections, {})
            row("GET /categories?keyword vs constant", search_rps, const_search_rps)
        stop(server.process)  # files with the defaults again
        server = start_serve(home / "data", env=env, port=port_of(server))
        wait_ready(server)
        print(" defaults:")
        file_rps = wrk(file_url, args.seconds, args.connections, {})
        static_rps = wrk(f"{bare_base}/static/thumb.jpg", args.seconds, args.connections, {})
        mode = " (307 to the bucket)" if args.scaled else ""
        row(f"image file{mode} vs StaticFiles", file_rps, static_rps)
        avif_url = rendition_latency(api, headers)
        static_avif = static / "image.avif"
        static_avif.write_bytes(
            httpx.get(avif_url, headers={"Accept": BROWSER}, follow_redirects=True).content
        )
        avif_rps = wrk(avif_url, args.seconds, args.connections, {"Accept": BROWSER})
        static_rps = wrk(f"{bare_base}/static/image.avif", args.seconds, args.connections, {})
        row(f"AVIF rendition{mode} vs StaticFiles", avif_rps, static_rps)
        # on S3, the same file streamed through vitrina from the bucket: with
        # the hot-file cache (the default), then read from the bucket every time
        streamed_modes = (
            (("streamed", {}), ("streamed, no cache", {"VITRINA_FILES_CACHE_BYTES": "0"}))
            if args.scaled
            else ()
        )
        for label, cache in streamed_modes:
            stop(server.process)
            streaming = {**env, "VITRINA_FILES_REDIRECT": "false", **cache}
            server = start_serve(home / f"data-{len(cache)}", env=streaming)
            wait_ready(server)
            streamed = file_url.replace(file_url.split("/images/")[0], server.base)
            file_rps = wrk(streamed, args.seconds, args.connections, {})
            static_rps = wrk(f"{bare_base}/static/thumb.jpg", args.seconds, args.connections, {})
            row(f"image file ({label}) vs StaticFiles", file_rps, static_rps, not cache)
    finally:
        if bare is not None:
            stop(bare)
        stop(server.process)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
