"""Image pipeline benchmark: vitrina's processor against a floor, same run.

    python bench/pipeline.py [--runs 11] [--uploads 48]

The floor is the least work that produces the same three fits (1200, 800 and
400 px): one shrink-on-load decode (``jpegload(shrink=)`` for JPEG, the
``thumbnail`` loader for the rest), orientation and colour conversion on the
reduced image, each fit encoded once (JPEG q85; PNG for transparency, at
zlib level 3 with the sub filter; WebP at libwebp's fastest effort), no
original. It is written here, independent of vitrina's code. The two are
alternated and the median of ``--runs`` is taken.

Prints:
- per input class, vitrina's processor (probe + process, original included)
  against the floor, with their targets;
- the phone photo (orientation 6, Display P3) against an upright photo of
  the same size, both through vitrina (target <= 1.2);
- saturated uploads/s through HTTP (``vitrina serve`` with its defaults, 4
  clients) against the floor run in 2 processes (target >= 0.75);
- the WebP encoder's time and size at each effort, for the chosen setting;
- when Node.js is on the PATH, sharp's three fits of each input, one after
  another as one upload needs them (``bench/sharp_fits.js``, sharp 0.35.5
  installed by npm into a scratch folder, or the folder named by
  ``VITRINA_BENCH_SHARP``), against vitrina's processor (which also makes
  the original and the border colour): target below 1.0 for every class;
- a phone HEIC (tests/images/heic/arrow.heic): vitrina's time and how much
  of it is libheif's decode (sharp's libvips has no HEVC decoder);
- renditions (docs/images.md): what making the AVIF and WebP renditions of
  the three variants would add to an upload (against the upload in the same
  run), what one costs on a first request, and each rendition's size and
  SSIM against the JPEG's; the AVIF encoder's time and size at each effort.

Servers listen on 127.0.0.1 only and are stopped by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyvips

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import sample_images as images  # noqa: E402

from bench.upload import alpha_png, client_for, new_category, throughput, vitrina  # noqa: E402
from vitrina.backends.imaging import renditions  # noqa: E402
from vitrina.backends.imaging.vips import VipsProcessor, fitted  # noqa: E402

pyvips.cache_set_max(0)
BOXES = (1200, 800, 400)


def _encode_floor(image: pyvips.Image, fmt: str) -> bytes:
    data: bytes
    if fmt == "png":
        data = image.pngsave_buffer(compression=3, filter="sub", keep=0)  # vitrina's setting
    elif fmt == "webp":
        data = image.webpsave_buffer(Q=85, effort=0, keep=0)
    else:
        data = image.jpegsave_buffer(Q=85, keep=0)
    return data


def floor(path: str, fmt: str) -> list[bytes]:
    """The same three fits with shrink-on-load and nothing else."""
    head = pyvips.Image.new_from_file(path, access="sequential")
    managed = head.interpretation == "cmyk" or bool(head.get_typeof("icc-profile-data"))
    if fmt == "jpeg":
        longest, shrink = max(head.width, head.height), 1
        while shrink < 8 and longest // (shrink * 2) >= BOXES[0]:
            shrink *= 2
        image = pyvips.Image.jpegload(path, shrink=shrink, access="sequential")
        image = image.resize(min(1.0, BOXES[0] / max(image.width, image.height)))
        image = image.copy_memory().autorot()
    else:
        image = pyvips.Image.thumbnail(path, BOXES[0], height=BOXES[0], size="down")
    if managed:
        image = image.icc_transform("srgb", embedded=True, input_profile="cmyk")
    elif image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    image = image.cast("uchar").copy_memory()
    out_fmt = "png" if image.hasalpha() and fmt != "webp" else fmt
    out_fmt = out_fmt if out_fmt in ("jpeg", "png", "webp") else "jpeg"
    files = []
    for box in BOXES:
        if max(image.width, image.height) > box:
            image = image.thumbnail_image(box, height=box, size="down").copy_memory()
        files.append(_encode_floor(image, out_fmt))
    return files


PROCESSOR = VipsProcessor()


def vitrina_processor(path: str) -> None:
    source = Path(path)
    result = PROCESSOR.process(source, PROCESSOR.probe(source), 400, 1200, keep_original=False)
    for scratch in result.temporary:
        scratch.unlink(missing_ok=True)


def alternate(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Medians of ``first`` and ``second``, run in turns after a warm-up."""
    first()
    second()
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        for func, times in ((first, a), (second, b)):
            started = time.perf_counter()
            func()
            times.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b)


def inputs(folder: Path) -> dict[str, tuple[Path, str, float]]:
    """name -> (file, format, target ratio against the floor)."""
    made = {
        "12 MP JPEG, upright": (images.phone_jpeg(1, profile=None, size=(4032, 3024)), "jpeg", 1.2),
        "phone photo, orientation 6, P3": (images.phone_jpeg(6, profile="p3"), "jpeg", 1.2),
        "24 MP JPEG": (images.phone_jpeg(1, profile=None, size=(6000, 4000)), "jpeg", 1.5),
        "CMYK JPEG, 12 MP": (
            images.phone_jpeg(1, profile="cmyk", size=(4032, 3024)),
            "jpeg",
            1.5,
        ),
        "WebP 2000x1500": (
            images.photo(2000, 1500).webpsave_buffer(Q=85, keep=0),
            "webp",
            1.5,
        ),
        "PNG with alpha, 1200x1200": (alpha_png(), "png", 1.5),
    }
    result = {}
    for number, (name, (data, fmt, target)) in enumerate(made.items()):
        path = folder / f"input-{number}"
        path.write_bytes(data)
        result[name] = (path, fmt, target)
    return result


def _floor_loop(path: str, seconds: float, counter: Any) -> None:
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        floor(path, "jpeg")
        done += 1
    with counter.get_lock():
        counter.value += done


def floor_rate(path: Path, processes: int = 2, seconds: float = 8.0) -> float:
    spawn = multiprocessing.get_context("spawn")  # a fork would inherit libvips' threads
    counter = spawn.Value("i", 0)
    workers = [
        spawn.Process(target=_floor_loop, args=(str(path), seconds, counter))
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return float(counter.value) / (time.perf_counter() - started)


def webp_efforts(path: Path) -> None:
    image = pyvips.Image.thumbnail(str(path), 1200).copy_memory()
    jpeg = alternate(lambda: image.jpegsave_buffer(Q=85, keep=0), lambda: None, 7)[0]
    print(f"  JPEG q85 of the 1200 px fit: {jpeg * 1000:.1f} ms")
    for effort in range(5):
        size = len(image.webpsave_buffer(Q=85, effort=effort, keep=0))
        took = alternate(
            partial(image.webpsave_buffer, Q=85, effort=effort, keep=0), lambda: None, 7
        )[0]
        print(f"  WebP q85 effort {effort}: {took * 1000:5.1f} ms, {size / 1000:6.1f} KB")


SHARP_VERSION = "0.35.5"


def _sharp_folder() -> Path | None:
    """A folder whose node_modules has sharp, installed there by npm if need be."""
    if shutil.which("node") is None:
        return None
    folder = Path(
        os.environ.get("VITRINA_BENCH_SHARP")
        or Path(tempfile.gettempdir()) / f"vitrina-bench-sharp-{SHARP_VERSION}"
    )
    if not (folder / "node_modules" / "sharp").is_dir():
        if shutil.which("npm") is None:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing sharp@{SHARP_VERSION} into {folder} (npm) ...")
        installed = subprocess.run(
            ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund",
             f"sharp@{SHARP_VERSION}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if installed.returncode != 0:
            print(f"  npm failed: {installed.stderr.strip()[-300:]}")
            return None
    return folder


def sharp_times(
    paths: list[Path], runs: int, folder: Path, concurrency: int | None = None
) -> dict[Path, float]:
    """Median ms of sharp's three fits of each file (with ``concurrency``
    libvips threads, or sharp's default)."""
    script = Path(__file__).resolve().parent / "sharp_fits.js"
    done = subprocess.run(
        ["node", str(script), str(runs), *map(str, paths)],
        capture_output=True, text=True, check=False,
        env={
            **os.environ,
            "NODE_PATH": str(folder / "node_modules"),
            **({"SHARP_CONCURRENCY": str(concurrency)} if concurrency else {}),
        },
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sharp failed: {done.stderr.strip()[-300:]}")
    found = json.loads(done.stdout)["files"]
    return {path: float(found[str(path)]["ms"]) for path in paths}


def against_sharp(made: dict[str, tuple[Path, str, float]], runs: int, rounds: int = 3) -> None:
    """vitrina's processor against sharp's three fits, per input class, in
    alternating rounds (vitrina, sharp at its default, sharp with a thread
    per core), each a median of ``runs``; the median of the rounds' ratios."""
    folder = _sharp_folder()
    if folder is None:
        print("sharp: skipped (no Node.js, or npm could not install sharp)")
        return
    cores = os.cpu_count() or 1
    print(
        f"against sharp {SHARP_VERSION}'s three fits (each from the file, as three requests "
        f"would), {rounds} alternating rounds of {runs} runs; ms:"
    )
    print(
        f"  {'input':34} {'vitrina':>8} {'sharp':>8} {'ratio':>7} "
        f"{'sharp x' + str(cores):>9} {'ratio':>7}  target < 1.0"
    )
    for name, (path, _, _) in made.items():
        ours, default, threaded = [], [], []
        for _ in range(rounds):
            ours.append(alternate(partial(vitrina_processor, str(path)), lambda: None, runs)[0])
            default.append(sharp_times([path], runs, folder)[path] / 1000)
            threaded.append(sharp_times([path], runs, folder, cores)[path] / 1000)
        first = statistics.median(o / d for o, d in zip(ours, default, strict=True))
        second = statistics.median(o / t for o, t in zip(ours, threaded, strict=True))
        print(
            f"  {name:34} {statistics.median(ours) * 1000:8.0f} "
            f"{statistics.median(default) * 1000:8.0f} {first:6.2f}x "
            f"{statistics.median(threaded) * 1000:9.0f} {second:6.2f}x  "
            f"{verdict(max(first, second) < 1.0)}"
        )


def heic_split(runs: int) -> tuple[float, float]:
    """Median seconds of vitrina's processor on a phone HEIC, and of the
    libheif decode alone (pillow-heif, to pixels in memory)."""
    import numpy as np
    import pillow_heif

    path = ROOT / "tests" / "images" / "heic" / "arrow.heic"

    def decode() -> None:
        container = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=False)
        np.asarray(container[container.primary_index])

    return alternate(partial(vitrina_processor, str(path)), decode, runs)


def _variants(path: Path) -> list[tuple[str, bytes, int, int]]:
    result = PROCESSOR.process(path, PROCESSOR.probe(path), 400, 1200, keep_original=False)
    for scratch in result.temporary:
        scratch.unlink(missing_ok=True)
    variants = []
    for f in result.files[1:]:
        assert isinstance(f.data, bytes)  # variants are encoded in memory
        variants.append((f.role, f.data, f.width, f.height))
    return variants


def _all_renditions(path: Path, variants: list[tuple[str, bytes, int, int]]) -> list[Any]:
    return [
        PROCESSOR.render(path, width, height, fmt, data)
        for _, data, width, height in variants
        for fmt in ("avif", "webp")
    ]


def rendition_costs(made: dict[str, tuple[Path, str, float]], runs: int) -> None:
    """At upload or on first request: the time of each, and what they make."""
    print("renditions: AVIF and WebP of the three variants (made on first request)")
    print(f"  {'input':34} {'upload':>8} {'+6 made':>8} {'ratio':>7}  {'1200 AVIF':>9}")
    for name in ("12 MP JPEG, upright", "phone photo, orientation 6, P3", "WebP 2000x1500"):
        path = made[name][0]
        variants = _variants(path)
        upload, extra = alternate(
            partial(vitrina_processor, str(path)),
            partial(_all_renditions, path, variants),
            max(5, runs // 2),
        )
        _, data, width, height = variants[-1]  # the 1200 px image
        first, _ = alternate(
            partial(PROCESSOR.render, path, width, height, "avif", data), lambda: None, 5
        )
        print(
            f"  {name:34} {upload * 1000:8.0f} {extra * 1000:8.0f} "
            f"{(upload + extra) / upload:6.2f}x  {first * 1000:7.0f} ms"
        )
        print(f"    {'variant':10} {'stored':>16} {'AVIF':>22} {'WebP':>22}")
        for role, data, width, height in variants:
            reference = _reference(path, width, height)
            cells = [f"{len(data) / 1000:6.1f} KB {renditions.ssim(reference, _dec(data)):.4f}"]
            for fmt in ("avif", "webp"):
                got = PROCESSOR.render(path, width, height, fmt, data)
                served = "" if got.content_type.endswith(fmt) else " (kept)"
                served = " (stored)" if fmt == fmt_of(data) else served
                quality = renditions.ssim(reference, _dec(got.data))
                cells.append(f"{got.size / 1000:6.1f} KB {quality:.4f}{served:7}")
            print(f"    {role + f' {width}':10} " + " ".join(f"{c:>22}" for c in cells))
    print("  (kept): not smaller at that SSIM, so the stored format is served;")
    print("  (stored): the stored format already; SSIM against the source fitted to the size")


def fmt_of(data: bytes) -> str:
    return "webp" if data[8:12] == b"WEBP" else "jpeg" if data[:2] == b"\xff\xd8" else "png"


def _dec(data: Any) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


def _reference(path: Path, width: int, height: int) -> pyvips.Image:
    """The source fitted to the size without any lossy step, as a rendition
    is made: what SSIM is measured against."""
    return fitted(path, PROCESSOR.probe(path), width, height).copy_memory()


def avif_efforts(path: Path) -> None:
    image = pyvips.Image.thumbnail(str(path), 1200).copy_memory()
    for effort in range(6):

        def encode(effort: int = effort) -> bytes:
            data: bytes = image.heifsave_buffer(Q=60, effort=effort, compression="av1", keep=0)
            return data

        took = alternate(encode, lambda: None, 5)[0]
        print(f"  AVIF q60 effort {effort}: {took * 1000:6.1f} ms, {len(encode()) / 1000:6.1f} KB")


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=11, help="runs per median (at least 11)")
    parser.add_argument("--uploads", type=int, default=48, help="uploads for the throughput")
    parser.add_argument(
        "--renditions", action="store_true", help="only the renditions' section (quicker)"
    )
    args = parser.parse_args()
    runs = max(11, args.runs)
    if args.renditions:
        folder = Path(tempfile.mkdtemp(prefix="vitrina-bench-pipeline-"))
        try:
            made = inputs(folder)
            rendition_costs(made, runs)
            print(f"AVIF encoder settings (vitrina uses effort {renditions.AVIF_EFFORT}):")
            avif_efforts(made["12 MP JPEG, upright"][0])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    folder = Path(tempfile.mkdtemp(prefix="vitrina-bench-pipeline-"))
    try:
        made = inputs(folder)
        print(f"{os.cpu_count()} cores; median of {runs} alternating runs; ms")
        print(f"  {'input':34} {'vitrina':>8} {'floor':>8} {'ratio':>7}  target")
        for name, (path, fmt, target) in made.items():
            ours, base = alternate(
                partial(vitrina_processor, str(path)), partial(floor, str(path), fmt), runs
            )
            ratio = ours / base
            print(
                f"  {name:34} {ours * 1000:8.0f} {base * 1000:8.0f} {ratio:6.2f}x  "
                f"<= {target}  {verdict(ratio <= target)}"
            )
        against_sharp(made, max(5, runs // 2))
        heic_total, heic_decode = heic_split(max(5, runs // 2))
        print(
            f"phone HEIC (iPhone, 12 MP, P3, turned): vitrina {heic_total * 1000:.0f} ms, "
            f"of which libheif's decode {heic_decode * 1000:.0f} ms (no shrink-on-load in HEVC)"
        )
        phone, upright = alternate(
            lambda: vitrina_processor(str(made["phone photo, orientation 6, P3"][0])),
            lambda: vitrina_processor(str(made["12 MP JPEG, upright"][0])),
            runs,
        )
        ratio = phone / upright
        print(
            f"phone photo / upright photo of the same size, in-process: {ratio:.2f}x "
            f"({phone * 1000:.0f} vs {upright * 1000:.0f} ms)  <= 1.2  {verdict(ratio <= 1.2)}"
        )
        photo = made["12 MP JPEG, upright"][0]
        body = photo.read_bytes()
        base_rate = floor_rate(photo)
        with vitrina(workers=1) as server:
            with client_for(server) as client:
                new_category(client)
            rate = throughput(server, body, args.uploads, clients=4)
        ratio = rate / base_rate
        print(
            f"saturated uploads/s, 12 MP JPEG: HTTP serve (defaults, 4 clients) {rate:.1f}/s; "
            f"floor in 2 processes {base_rate:.1f}/s; ratio {ratio:.2f}x  >= 0.75  "
            f"{verdict(ratio >= 0.75)}"
        )
        print("WebP encoder settings (vitrina uses effort 1):")
        webp_efforts(made["WebP 2000x1500"][0])
        rendition_costs(made, runs)
        print(f"AVIF encoder settings (vitrina uses effort {renditions.AVIF_EFFORT}):")
        avif_efforts(made["12 MP JPEG, upright"][0])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
