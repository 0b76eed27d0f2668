"""Each upload byte written once: today's write path against the
path it replaced, in the same run, on the same files, alternating.

    python bench/write_once.py [--runs 15] [--uploads 24] [--folder DIR]

The path it replaced is kept here as a small reimplementation: the processor
wrote the stripped original beside the upload without hashing it; the blob
store copied it (and each variant) to a temporary name, fsynced and renamed it;
then every file was read again to hash it (the original from disk). Today's
path is vitrina's own ``images.process_and_write``: the original is hashed as
it is written, in the store's folder, and renamed under its key (file fsync,
rename, folder fsync); variants are hashed once in memory.

Prints, per input (a phone photo, 4032x3024, orientation 6, Display P3; a
24 MP JPEG; the phone photo with VITRINA_KEEP_ORIGINAL):
- the whole write path (probe, decode, the four files, storing them, their
  sizes and ETags), median ms of each and the ratio new / old;
- the bytes the process wrote and read for one upload (``/proc/self/io``);
then uploads/s of phone photos with one upload per core at once, before and
now; and, for the phone photo's stripped original alone, the store stage:
copy, fsync, rename and hash it again, against fsync, rename and folder
fsync; and what hashing in the strip's pass costs.

Everything runs in process under ``--folder`` (default: the temporary folder);
nothing listens on a port.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sample_images as test_images  # noqa: E402

from vitrina.backends.imaging import vips  # noqa: E402
from vitrina.backends.imaging.jpeg_strip import strip_jpeg  # noqa: E402
from vitrina.bootstrap import Services, build_services  # noqa: E402
from vitrina.domain import naming  # noqa: E402
from vitrina.domain.values import EncodedFile, Store  # noqa: E402
from vitrina.settings import Settings  # noqa: E402
from vitrina.usecases import category_images as images  # noqa: E402

_CHUNK = 256 * 1024
_IDS = itertools.count(1000, 4)


# -- the path it replaced ------------------------------------------------------


def _old_put(root: Path, key: str, data: bytes | Path) -> None:
    """LocalBlobStore.put as it was: a copy under a temporary name, fsync, rename."""
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    os.fchmod(fd, 0o644)
    with os.fdopen(fd, "wb") as out:
        if isinstance(data, Path):
            with data.open("rb") as source:
                shutil.copyfileobj(source, out, _CHUNK)
        else:
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class _NoDigest:
    def update(self, data: bytes, /) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


@contextlib.contextmanager
def _as_before() -> Iterator[None]:
    """The processor as it was: the original written beside the upload (or,
    kept as uploaded, the upload itself), nothing hashed."""
    written_original = vips._written_original

    def old_original(
        source: Path, header: Any, folder: Path, scratch: list[Path], keep_original: bool
    ) -> EncodedFile | None:
        if keep_original:
            fmt, (width, height) = header.format, header.shown
            ext, kind = naming.EXTENSIONS[fmt], naming.CONTENT_TYPES[fmt]
            return EncodedFile("original", source, ext, kind, width, height, 0, "")
        return written_original(source, header, source.parent, scratch, keep_original)

    replaced = {
        "_written_original": old_original,
        "etag_digest": _NoDigest,  # the old strip did not hash
        "etag": lambda data: "",  # nor did the processor: the consumer did
    }
    saved = {name: getattr(vips, name) for name in replaced}
    for name, value in replaced.items():
        setattr(vips, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(vips, name, value)


def old_write_path(
    services: Services, root: Path, store: Store, source: Path, pool: ThreadPoolExecutor
) -> list[tuple[str, int, str]]:
    first = next(_IDS)
    ids = [first + n for n in range(4)]
    started: dict[int, Future[None]] = {}

    def start(index: int, f: EncodedFile) -> None:
        key = naming.file_key(store.id, ids[index], f.ext)
        started[index] = pool.submit(_old_put, root, key, f.data)

    with _as_before():
        processed = images.process(services, store, source, on_original=partial(start, 0))
    described = [  # sizes and ETags, the original read again from disk
        (
            naming.file_key(store.id, file_id, f.ext),
            f.data.stat().st_size if isinstance(f.data, Path) else len(f.data),
            naming.etag(f.data),
        )
        for file_id, f in zip(ids, processed.files, strict=True)
    ]
    for index, encoded in enumerate(processed.files):
        if index not in started:
            start(index, encoded)
    for put in started.values():
        put.result()
    for path in processed.temporary:
        path.unlink(missing_ok=True)
    return described


def new_write_path(services: Services, store: Store, source: Path) -> list[tuple[str, int, str]]:
    first = next(_IDS)
    _processed, stored = images.process_and_write(
        services, store, source, [first + n for n in range(4)]
    )
    return [(naming.file_key(store.id, f.id, f.ext), f.size, f.etag) for f in stored]


# -- measuring -----------------------------------------------------------------


def _io() -> tuple[int, int]:
    """Bytes this process has written and read through system calls so far."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return 0, 0
    fields = dict(line.split(": ") for line in text.splitlines())
    return int(fields["wchar"]), int(fields["rchar"])


def _clear(root: Path) -> None:
    for folder in root.iterdir():
        shutil.rmtree(folder, ignore_errors=True)


def alternate(
    old: Callable[[], object], new: Callable[[], object], runs: int, after: Callable[[], None]
) -> tuple[float, float]:
    """Medians of ``old`` and ``new``, in turns after a warm-up; ``after``
    (not timed) runs after each call."""
    for func in (old, new):
        func()
        after()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for func, kept in zip((old, new), times, strict=True):
            begun = time.perf_counter()
            func()
            kept.append(time.perf_counter() - begun)
            after()
    return statistics.median(times[0]), statistics.median(times[1])


def io_of(func: Callable[[], object], after: Callable[[], None]) -> tuple[int, int]:
    before = _io()
    func()
    written, read = (a - b for a, b in zip(_io(), before, strict=True))
    after()
    return written, read


def saturated(
    work: Path, body: bytes, make: Callable[[Path], Callable[[], object]], uploads: int
) -> float:
    """Uploads/s with as many uploads at once as the machine has cores (each
    from its own spooled file), in process."""
    workers = os.cpu_count() or 2
    sources = []
    for number in range(workers):
        sources.append(work / f"upload-{number}")
        sources[-1].write_bytes(body)
    runs = [make(source) for source in sources]

    def loop(run: Callable[[], object]) -> None:
        for _ in range(uploads // workers):
            run()

    begun = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as threads:
        for done in [threads.submit(loop, run) for run in runs]:
            done.result()
    return (uploads // workers) * workers / (time.perf_counter() - begun)


def store_stage(services: Services, root: Path, stripped: bytes, runs: int) -> None:
    """The stripped original alone: how it was stored, how it is now."""
    blobs = services.blobs
    folder = blobs.scratch_folder("1/0.jpg")
    assert folder is not None
    scratch = folder / ".tmp-bench.original"
    key = "1/999999.jpg"

    def refill() -> None:  # as the strip leaves it: just written, not yet on disk
        blobs.delete([key])
        scratch.write_bytes(stripped)

    def old() -> None:
        _old_put(root, key, scratch)
        naming.etag(scratch)
        scratch.unlink()

    def new() -> None:
        blobs.place(key, scratch, "image/jpeg")

    refill()
    before, now = alternate(old, new, runs, refill)
    print(
        f"store stage, the stripped original alone ({len(stripped) / 1e6:.1f} MB): "
        f"copy + fsync + rename + hash again {before * 1000:.1f} ms; "
        f"fsync + rename + folder fsync {now * 1000:.1f} ms; ratio {now / before:.2f}x"
    )
    scratch.unlink(missing_ok=True)
    blobs.delete([key])


def strip_hashing(source: Path, runs: int) -> None:
    """What hashing in the strip's pass costs, beside the strip itself."""
    out = source.with_name("strip-bench.jpg")
    plain, hashed = alternate(
        lambda: strip_jpeg(source, out, 6),
        lambda: strip_jpeg(source, out, 6, naming.etag_digest()),
        runs,
        lambda: None,
    )
    hashing_apart = statistics.median(
        _timed(lambda: naming.etag(out)) for _ in range(max(5, runs // 2))
    )
    print(
        f"stripping the phone photo: {plain * 1000:.1f} ms; hashing in the same pass "
        f"{hashed * 1000:.1f} ms (+{(hashed - plain) * 1000:.1f}); reading it again to hash "
        f"it took {hashing_apart * 1000:.1f} ms"
    )
    out.unlink(missing_ok=True)


def _timed(func: Callable[[], object]) -> float:
    begun = time.perf_counter()
    func()
    return time.perf_counter() - begun


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="runs per median")
    parser.add_argument("--uploads", type=int, default=32, help="uploads per saturated run")
    parser.add_argument("--folder", type=Path, default=None, help="where to write (a disk)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vitrina-bench-write-once-", dir=args.folder))
    pool = ThreadPoolExecutor(max_workers=8)
    try:
        settings = Settings(data_dir=work / "data", dedup_uploads=False)
        services = build_services(settings)
        root = Path(settings.effective_storage_url.removeprefix("file://"))
        store = Store(id=1, name="Bench", storefront_url="http://bench")
        inputs = {
            "phone photo 4032x3024, o6, P3": (test_images.phone_jpeg(), False),
            "24 MP JPEG": (test_images.phone_jpeg(1, profile=None, size=(6000, 4000)), False),
            "phone photo, kept as uploaded": (test_images.phone_jpeg(), True),
        }
        print(f"{os.cpu_count()} cores; files under {work}; median of {args.runs} alternating runs")
        print(f"  {'input':32} {'before':>8} {'now':>8} {'ratio':>7}   written MB   read MB")
        for name, (body, keep) in inputs.items():
            services.settings = settings.replace(keep_original=keep)
            source = work / "upload"
            source.write_bytes(body)
            old = partial(old_write_path, services, root, store, source, pool)
            new = partial(new_write_path, services, store, source)
            made = [sorted(f[1:] for f in path()) for path in (old, new)]
            assert made[0] == made[1], name  # the same files: sizes and ETags
            _clear(root)
            before, now = alternate(old, new, args.runs, partial(_clear, root))
            old_io, new_io = io_of(old, partial(_clear, root)), io_of(new, partial(_clear, root))
            print(
                f"  {name:32} {before * 1000:8.1f} {now * 1000:8.1f} {now / before:6.2f}x"
                f"   {old_io[0] / 1e6:4.1f} -> {new_io[0] / 1e6:4.1f}"
                f"   {old_io[1] / 1e6:4.1f} -> {new_io[1] / 1e6:4.1f}"
            )
        services.settings = settings
        body = inputs["phone photo 4032x3024, o6, P3"][0]
        rates: list[float] = []
        for make in (
            lambda source: partial(old_write_path, services, root, store, source, pool),
            lambda source: partial(new_write_path, services, store, source),
        ) * 3:  # in turns, three times
            rates.append(saturated(work, body, make, args.uploads))
            _clear(root)
        before, now = statistics.mean(rates[0::2]), statistics.mean(rates[1::2])
        print(
            f"saturated, phone photos {os.cpu_count()} at a time: before {before:.1f}/s, "
            f"now {now:.1f}/s; ratio {now / before:.2f}x"
        )
        phone = work / "phone.jpg"
        phone.write_bytes(test_images.phone_jpeg())
        stripped = work / "phone-stripped.jpg"
        strip_jpeg(phone, stripped, 6)
        store_stage(services, root, stripped.read_bytes(), args.runs)
        strip_hashing(phone, args.runs)
        services.close()
    finally:
        pool.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
