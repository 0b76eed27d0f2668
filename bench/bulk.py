"""Bulk benchmarks, every figure against a baseline measured in the same run.

Upload: `vitrina upload --concurrency 4` sends 200 generated photos of 2 to
5 MB to a local `vitrina serve`, against the server's own saturated upload
rate measured in the same run (4 threads posting the same files straight to
the API, nothing else). Targets: at least 0.9x the saturated rate, and the
uploader's peak RSS under 150 MB.

Mirror: `vitrina mirror` copies a store of 48 categories whose images are 6
phone-sized photos, each repeated (a placeholder or a brand picture used in
many categories), into a server that stores identical uploads once
(VITRINA_DEDUP_UPLOADS=true, the default) and into one that does not
(false), the baseline mirrored before and after. Prints the bytes and
files each target stores and the time each mirror took, as ratios; the
time of an upload of bytes the store already has
against the first upload of them (through HTTP); and of new photos with
dedup on against off (the cost of hashing each upload, in process: through
HTTP the machine's noise is larger than it).

    python bench/bulk.py [--part upload|mirror|all] [--files 200] [--concurrency 4]
                         [--categories 48] [--distinct 6] [--rounds 7]

Everything listens on 127.0.0.1 and is stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
from tests.processes import Server, start_serve, stop, wait_ready  # noqa: E402

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


def upload_part(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-bulk-"))
    env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "0", "VITRINA_DEDUP_UPLOADS": "false"}
    server = start_serve(work / "data", env=env)  # the baseline posts the same files again
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


# -- mirror: a store with repeated images -------------------------------------------


def _serve(folder: Path, dedup: bool = True) -> Server:
    env = {"VITRINA_RATE_LIMIT_PER_MINUTE": "0", "VITRINA_DEDUP_UPLOADS": str(dedup).lower()}
    server = start_serve(folder, env=env)
    wait_ready(server)
    return server


def _post(
    http: httpx.Client,
    server: Server,
    path: str,
    content: bytes | None = None,
    json: dict[str, str] | None = None,
) -> httpx.Response:
    answer = http.post(
        f"{server.base}/api/v3/1{path}",
        headers={"Authorization": f"Bearer {server.token()}"},
        content=content,
        json=json,
        timeout=120,
    )
    answer.raise_for_status()
    return answer


def fill_source(source: Server, categories: int, distinct: int) -> int:
    """``categories`` categories, whose images are ``distinct`` photos in
    turn; the bytes of one copy of each."""
    photos = [
        images.photo(*SIZES[n % len(SIZES)], seed=n + 101).jpegsave_buffer(Q=93)
        for n in range(distinct)
    ]
    with httpx.Client() as http:
        for n in range(categories):
            category = _post(http, source, "/categories", json={"name": f"M{n}"}).json()["id"]
            _post(http, source, f"/categories/{category}/image", content=photos[n % distinct])
    return sum(len(p) for p in photos)


def mirror(source: Server, target: Server, state: Path) -> float:
    command = [
        sys.executable, "-m", "vitrina", "mirror",
        "--from-url", source.base, "--from-store", "1", "--from-token", source.token(),
        "--to-url", target.base, "--to-store", "1", "--to-token", target.token(),
        "--state", str(state), "--allow-private-sources", "--json",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def stored(folder: Path) -> tuple[int, int]:
    """Bytes and number of the files a server stores (scratch files aside)."""
    found = [p for p in (folder / "files").rglob("*") if p.is_file() and "/." not in str(p)]
    return sum(p.stat().st_size for p in found), len(found)


def _upload_seconds(http: httpx.Client, server: Server, photo: bytes) -> float:
    """Seconds to upload ``photo`` to a new category of ``server``."""
    category = _post(http, server, "/categories", json={"name": "Timed"}).json()["id"]
    started = time.perf_counter()
    _post(http, server, f"/categories/{category}/image", content=photo)
    return time.perf_counter() - started


def upload_times(server: Server, rounds: int) -> tuple[float, float]:
    """Median seconds, through HTTP, of an upload of a phone photo the store
    does not have and of one it has (the same bytes again)."""
    fresh, again = [], []
    with httpx.Client() as http:
        for n in range(rounds):
            photo = images.phone_jpeg(size=(3024 - 8 * n, 4032))  # new bytes each round
            fresh.append(_upload_seconds(http, server, photo))
            again.append(_upload_seconds(http, server, photo))
    return statistics.median(fresh), statistics.median(again)


def in_process_costs(folder: Path, rounds: int) -> tuple[float, float, float]:
    """What dedup adds to an upload of new bytes, in process (the upload use
    case on SQLite and local files): median seconds of whole uploads with
    dedup on and off, in turns on the same phone photos; and of what it adds
    alone (the digest, the header check before the share, the read that
    finds nothing to share)."""
    from vitrina.backends.metadata import migrate
    from vitrina.bootstrap import build_services
    from vitrina.domain.values import CategoryChanges
    from vitrina.settings import Settings
    from vitrina.usecases import category_images as image_cases

    sides = {}
    for dedup in (True, False):
        services = build_services(Settings(data_dir=folder / f"d{dedup:d}", dedup_uploads=dedup))
        assert services.engine is not None
        migrate.upgrade(services.engine)
        sides[dedup] = services, services.metadata.stores.create_store("B", "https://b.example")
    seconds: dict[bool, list[float]] = {True: [], False: []}
    added = []
    try:
        for n in range(rounds):
            source = folder / f"phone-{n}.jpg"
            source.write_bytes(images.phone_jpeg(size=(3024 - 8 * n, 4032)))
            for dedup in (True, False) if n % 2 else (False, True):
                services, store = sides[dedup]
                made = services.metadata.catalog.create_category(
                    store.id, CategoryChanges(name="C")
                )
                started = time.perf_counter()
                image_cases.upload(services, store, made[0], source)
                seconds[dedup].append(time.perf_counter() - started)
            services, store = sides[True]  # what dedup adds to it, alone
            started = time.perf_counter()
            digest = image_cases.source_digest(store, False, source)
            services.processor.probe(source)
            missed = services.metadata.images.share_image(store.id, made[0], 10**12, digest + "x")
            added.append(time.perf_counter() - started)
            assert missed is None
    finally:
        for services, _ in sides.values():
            services.close()
    return (
        statistics.median(seconds[True]),
        statistics.median(seconds[False]),
        statistics.median(added),
    )


def mirror_part(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-mirror-"))
    servers: list[Server] = []
    try:
        source = _serve(work / "source")
        servers.append(source)
        print(f"filling the source: {args.categories} categories, {args.distinct} photos ...")
        distinct_bytes = fill_source(source, args.categories, args.distinct)
        runs: dict[str, list[tuple[float, int, int]]] = {"off": [], "on": []}
        for n, dedup in enumerate((False, True, False)):
            target = _serve(work / f"target{n}", dedup=dedup)
            servers.append(target)
            seconds = mirror(source, target, work / f"state{n}.json")
            runs["on" if dedup else "off"].append((seconds, *stored(work / f"target{n}")))
        fresh, repeat = upload_times(servers[2], args.rounds)
        on, off, added = in_process_costs(work, args.rounds)
    finally:
        for server in servers:
            stop(server.process)
        shutil.rmtree(work, ignore_errors=True)
    on_seconds, on_bytes, on_files = runs["on"][0]
    off_seconds = statistics.mean(r[0] for r in runs["off"])
    off_bytes, off_files = runs["off"][0][1], runs["off"][0][2]
    print(
        f"source: {args.categories} categories, {args.distinct} distinct photos "
        f"({distinct_bytes / args.distinct / 1e6:.1f} MB each)"
    )
    print(f"stored, dedup off       {off_bytes / 1e6:8.1f} MB in {off_files} files")
    print(f"stored, dedup on        {on_bytes / 1e6:8.1f} MB in {on_files} files")
    print(f"bytes stored            {on_bytes / off_bytes:8.3f}x of the baseline")
    print(
        f"mirror, dedup off       {runs['off'][0][0]:8.1f} s and {runs['off'][1][0]:.1f} s "
        f"(before and after)"
    )
    print(f"mirror, dedup on        {on_seconds:8.1f} s")
    print(f"mirror time             {on_seconds / off_seconds:8.3f}x of the baseline")
    print(
        f"upload of a phone photo the store has: {repeat * 1e3:.0f} ms against "
        f"{fresh * 1e3:.0f} ms the first time, through HTTP ({repeat / fresh:.3f}x)"
    )
    print(
        f"upload of a new phone photo in process: {on * 1e3:.1f} ms with dedup, "
        f"{off * 1e3:.1f} ms without ({on / off:.3f}x)"
    )
    print(
        f"what dedup adds to it (digest, header check, a read): {added * 1e3:.1f} ms, "
        f"{added / off:.3f}x of the upload without dedup"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("upload", "mirror", "all"), default="all")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--categories", type=int, default=48)
    parser.add_argument("--distinct", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=7, help="timed uploads of each kind")
    args = parser.parse_args()
    if args.part in ("upload", "all"):
        upload_part(args)
    if args.part in ("mirror", "all"):
        mirror_part(args)


if __name__ == "__main__":
    main()
