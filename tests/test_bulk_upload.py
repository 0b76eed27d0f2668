"""`vitrina upload` against a live server: matching files to categories by id,
name, path or a manifest; creating what is missing; bad input reported and
passed over; re-runs and interrupted runs that upload nothing twice."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import sample_images as images
from tests.live import Live, live_vitrina
from tests.processes import interruptible, wait_until
from vitrina.cli import main
from vitrina.client import Client
from vitrina.domain.values import CategoryChanges


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_vitrina(tmp_path / "data", max_image_bytes=3 * 1024 * 1024) as server:
        yield server


def arguments(live: Live, folder: Path, *options: str) -> list[str]:
    """`vitrina upload` of ``folder`` to the live server's store."""
    target = ["--url", live.base, "--store", str(live.store), "--token", live.token]
    return ["upload", str(folder), *target, *options]


def upload(
    live: Live, folder: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, dict[str, object]]:
    """Run the command with --json; (exit code, report)."""
    code = main(arguments(live, folder, "--json", *options))
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return code, report


def statuses(report: dict[str, object]) -> dict[str, str]:
    files = report["files"]
    assert isinstance(files, list)
    return {f["file"]: f["status"] for f in files}


def reasons(report: dict[str, object]) -> dict[str, str]:
    files = report["files"]
    assert isinstance(files, list)
    return {f["file"]: f["reason"] for f in files if f["reason"]}


@functools.cache
def _phone_photo(orientation: int) -> bytes:
    return images.phone_jpeg(orientation)


def photos(folder: Path, names: list[str]) -> None:
    """Photos as people send them: 12 MP phone JPEGs in Display P3, turned
    by EXIF orientation (6, 8, 3 and 1 in turn, so neighbours differ)."""
    for n, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_phone_photo((6, 8, 3, 1)[n % 4]))


def image_posts(live: Live) -> int:
    return sum(1 for r in live.requests("/image") if r["method"] == "POST")


def test_by_id_with_bad_input_reported_and_passed_over(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = live.services.metadata.catalog
    ids = [catalog.create_category(live.store, CategoryChanges(name=f"C{n}"))[0] for n in range(4)]
    folder = tmp_path / "photos"
    photos(folder, [f"{ids[0]}.jpg", f"{ids[1]}.jpg", "99999.jpg", "cover.jpg"])
    (folder / f"{ids[2]}.txt").write_text("not pixels\n" * 100)
    big = images.photo(3000, 2500, seed=9).jpegsave_buffer(Q=100)
    assert len(big) > 3 * 1024 * 1024
    (folder / f"{ids[2]}.jpg").write_bytes(big)
    (folder / f"{ids[3]}.jpg").symlink_to(folder / "nowhere.jpg")

    code, report = upload(live, folder, capsys)
    assert code == 1
    assert statuses(report) == {
        f"{ids[0]}.jpg": "uploaded",
        f"{ids[1]}.jpg": "uploaded",
        f"{ids[2]}.jpg": "failed",
        f"{ids[2]}.txt": "failed",
        "99999.jpg": "failed",
        "cover.jpg": "failed",
        f"{ids[3]}.jpg": "failed",
    }
    why = reasons(report)
    assert "INCORRECT_IMAGE_SIZE" in why[f"{ids[2]}.jpg"]
    assert "INVALID_IMAGE" in why[f"{ids[2]}.txt"]
    assert "no category 99999" in why["99999.jpg"]
    assert "not a category id" in why["cover.jpg"]
    assert "cannot read" in why[f"{ids[3]}.jpg"]
    with Client(live.store, live.token, live.api) as api:
        assert api.categories.get(ids[0]).thumbnailUrl


def test_by_name_refuses_ambiguity_and_creates_what_is_missing(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = live.services.metadata.catalog
    toys = catalog.create_category(live.store, CategoryChanges(name="Toys"))[0]
    first = catalog.create_category(live.store, CategoryChanges(name="Kites"))[0]
    second = catalog.create_category(live.store, CategoryChanges(name="kites", parent_id=toys))[0]
    folder = tmp_path / "photos"
    photos(folder, ["toys.jpg", "Kites.jpg", "Garden.jpg"])

    code, report = upload(live, folder, capsys, "--match", "name")
    assert code == 1
    assert statuses(report)["toys.jpg"] == "uploaded"
    assert f"#{first}" in reasons(report)["Kites.jpg"]
    assert f"#{second} Toys" in reasons(report)["Kites.jpg"]
    assert "--create-missing" in reasons(report)["Garden.jpg"]

    code, report = upload(live, folder, capsys, "--match", "name", "--create-missing")
    assert statuses(report)["Garden.jpg"] == "uploaded"
    assert statuses(report)["toys.jpg"] == "skipped"
    with Client(live.store, live.token, live.api) as api:
        made = api.categories.by_path("Garden")
    assert len(made) == 1 and made[0].thumbnailUrl


def test_by_path_creates_the_chain(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    photos(folder, ["Toys/Cars.jpg", "Toys/Cars/Racing.jpg", "Toys.jpg"])
    code, report = upload(live, folder, capsys, "--match", "path", "--dry-run", "--create-missing")
    assert code == 0 and set(statuses(report).values()) == {"planned"}
    assert image_posts(live) == 0
    code, report = upload(live, folder, capsys, "--match", "path", "--create-missing")
    assert code == 0, report
    with Client(live.store, live.token, live.api) as api:
        racing = api.categories.by_path("Toys/Cars/Racing")
        cars = api.categories.by_path("toys / cars")
        toys = api.categories.by_path("Toys")
    assert len(racing) == len(cars) == len(toys) == 1
    assert racing[0].parentId == cars[0].id and cars[0].parentId == toys[0].id
    assert all(c.thumbnailUrl for c in (racing[0], cars[0], toys[0]))


def test_a_manifest(live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = live.services.metadata.catalog
    toys = catalog.create_category(live.store, CategoryChanges(name="Toys"))[0]
    folder = tmp_path / "photos"
    photos(folder, ["a.jpg", "b.jpg"])
    manifest = tmp_path / "by-id.csv"
    manifest.write_text(f"file,category_id\na.jpg,{toys}\nb.jpg,424242\nmissing.jpg,{toys}\n")
    code, report = upload(live, folder, capsys, "--manifest", str(manifest))
    assert code == 1
    assert statuses(report) == {"a.jpg": "uploaded", "b.jpg": "failed", "missing.jpg": "failed"}
    by_path = tmp_path / "by-path.csv"
    by_path.write_text("file,category_path\nb.jpg,Toys/Wooden\n")
    code, report = upload(live, folder, capsys, "--manifest", str(by_path), "--create-missing")
    assert code == 0 and statuses(report) == {"b.jpg": "uploaded"}


def test_a_rerun_uploads_only_what_changed(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = live.services.metadata.catalog
    ids = [catalog.create_category(live.store, CategoryChanges(name=f"C{n}"))[0] for n in range(4)]
    folder = tmp_path / "photos"
    photos(folder, [f"{i}.jpg" for i in ids])
    code, _ = upload(live, folder, capsys, "--concurrency", "3")
    assert code == 0 and image_posts(live) == 4
    code, report = upload(live, folder, capsys)
    assert code == 0 and set(statuses(report).values()) == {"skipped"}
    assert image_posts(live) == 4
    (folder / f"{ids[1]}.jpg").write_bytes(images.jpeg(900, 700))
    code, report = upload(live, folder, capsys)
    assert [f for f, s in statuses(report).items() if s == "uploaded"] == [f"{ids[1]}.jpg"]
    assert image_posts(live) == 5
    state = json.loads((folder / ".vitrina-upload.json").read_text())
    assert set(state["entries"]) == {f"{i}.jpg" for i in ids}


def test_the_summary_and_progress_for_people(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    category = live.services.metadata.catalog.create_category(
        live.store, CategoryChanges(name="One")
    )[0]
    folder = tmp_path / "photos"
    photos(folder, [f"{category}.jpg", "7777.jpg"])
    code = main(arguments(live, folder))
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ 7777.jpg: no category 7777" in out
    assert "uploaded" in out and "failed" in out and "reason" in out


@pytest.mark.slow
def test_an_interrupted_run_finishes_without_duplicates(live: Live, tmp_path: Path) -> None:
    catalog = live.services.metadata.catalog
    ids = [catalog.create_category(live.store, CategoryChanges(name=f"C{n}"))[0] for n in range(12)]
    folder = tmp_path / "photos"
    photos(folder, [f"{i}.jpg" for i in ids])
    command = [
        sys.executable, "-m", "vitrina", "upload", str(folder), "--url", live.base,
        "--store", str(live.store), "--concurrency", "1",
    ]  # fmt: skip
    env = {**os.environ, "VITRINA_TOKEN": live.token}
    running = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=interruptible,  # Ctrl-C however the suite was started
    )
    state = folder / ".vitrina-upload.json"
    assert wait_until(lambda: state.exists(), timeout=60)
    running.send_signal(signal.SIGINT)
    output = running.communicate(timeout=60)[0].decode()
    assert running.returncode == 130, output
    assert "run the same command again" in output
    done_first = len(json.loads(state.read_text())["entries"])
    assert 1 <= done_first < 12
    again = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert again.returncode == 0, again.stdout.decode()
    assert len(json.loads(state.read_text())["entries"]) == 12
    time.sleep(0.1)
    assert image_posts(live) == 12  # every photo uploaded exactly once
