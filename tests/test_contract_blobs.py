"""The BlobStore contract, run over every implementation (local disk and S3
on SeaweedFS, through the parametrised ``services`` fixture)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from vitrina.bootstrap import Services, build_blob_store
from vitrina.domain.errors import NotFound, StorageUnavailable
from vitrina.domain.seams import BlobStore
from vitrina.settings import Settings


@pytest.fixture
def blobs(services: Services) -> BlobStore:
    return services.blobs


def test_put_read_list_delete(blobs: BlobStore, tmp_path: Path) -> None:
    blobs.ping()
    blobs.put("1/10.jpg", b"first", "image/jpeg")
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 3_000_000)
    blobs.put("1/11.png", source, "image/png")
    assert b"".join(blobs.read("1/10.jpg")) == b"first"
    assert b"".join(blobs.read("1/11.png")) == source.read_bytes()
    listed = {entry.key: entry for entry in blobs.list()}
    assert set(listed) == {"1/10.jpg", "1/11.png"}
    assert listed["1/11.png"].size == 3_000_000
    assert abs(listed["1/10.jpg"].modified - datetime.now(UTC)) < timedelta(minutes=5)
    blobs.put("1/10.jpg", b"second", "image/jpeg")  # overwrite: whole, never mixed
    assert b"".join(blobs.read("1/10.jpg")) == b"second"
    blobs.delete(["1/10.jpg", "1/11.png", "1/missing.jpg"])  # missing keys are fine
    assert list(blobs.list()) == []


def test_missing_and_escaping_keys(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        b"".join(blobs.read("1/404.jpg"))
    for key in ("../outside.jpg", "1/../../outside.jpg"):
        with pytest.raises(NotFound):
            blobs.put(key, b"x", "image/jpeg")
        with pytest.raises(NotFound):
            blobs.serving(key)


def test_many_deletes_in_one_call(blobs: BlobStore) -> None:
    keys = [f"2/{i}.jpg" for i in range(1100)]
    for key in keys[:30]:
        blobs.put(key, b"x", "image/jpeg")
    blobs.delete(keys)
    assert list(blobs.list()) == []


def test_place_stores_a_scratch_file_and_takes_it(blobs: BlobStore, tmp_path: Path) -> None:
    folder = blobs.scratch_folder("3/30.jpg") or tmp_path
    assert folder.is_dir()
    scratch = folder / ".tmp-scratch.part"
    scratch.write_bytes(b"y" * 2_000_000)
    blobs.place("3/30.jpg", scratch, "image/jpeg")
    assert not scratch.exists()  # taken
    assert b"".join(blobs.read("3/30.jpg")) == b"y" * 2_000_000
    assert {entry.key: entry.size for entry in blobs.list()} == {"3/30.jpg": 2_000_000}
    blobs.delete(["3/30.jpg"])
    assert list(blobs.list()) == []


def test_a_failed_place_leaves_the_scratch_file_to_the_caller(
    blobs: BlobStore, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch.part"
    scratch.write_bytes(b"z")
    with pytest.raises(NotFound):
        blobs.place("../outside.jpg", scratch, "image/jpeg")
    assert scratch.read_bytes() == b"z"
    with pytest.raises(StorageUnavailable):
        blobs.place("3/31.jpg", tmp_path / "missing.part", "image/jpeg")
    assert list(blobs.list()) == []


@pytest.mark.embedded_only
def test_on_local_disk_a_placed_file_is_renamed_not_copied(blobs: BlobStore) -> None:
    folder = blobs.scratch_folder("4/40.jpg")
    assert folder is not None
    scratch = folder / ".tmp-scratch.part"
    scratch.write_bytes(b"w" * 1_000_000)
    scratch.chmod(0o600)  # as mkstemp makes it
    inode = scratch.stat().st_ino
    blobs.place("4/40.jpg", scratch, "image/jpeg")
    stored = blobs.serving("4/40.jpg").path
    assert stored is not None
    assert stored.stat().st_ino == inode  # the same file, under its key
    assert stored.stat().st_mode & 0o777 == 0o644  # readable by a web server in front


_OTHER_FILE_SYSTEM = Path("/dev/shm")


@pytest.mark.embedded_only
@pytest.mark.skipif(
    not _OTHER_FILE_SYSTEM.is_dir()
    or _OTHER_FILE_SYSTEM.stat().st_dev == Path(tempfile.gettempdir()).stat().st_dev,
    reason="needs a second file system (tmpfs at /dev/shm) beside the test's folder",
)
def test_a_file_on_another_file_system_is_copied_then_removed(blobs: BlobStore) -> None:
    fd, name = tempfile.mkstemp(dir=_OTHER_FILE_SYSTEM, prefix="vitrina-test-")
    os.close(fd)
    scratch = Path(name)
    try:
        scratch.write_bytes(b"v" * 500_000)
        blobs.place("5/50.jpg", scratch, "image/jpeg")
        assert not scratch.exists()
        assert b"".join(blobs.read("5/50.jpg")) == b"v" * 500_000
        stored = blobs.serving("5/50.jpg").path
        assert stored is not None and stored.stat().st_dev != _OTHER_FILE_SYSTEM.stat().st_dev
    finally:
        scratch.unlink(missing_ok=True)


def _served(blobs: BlobStore, key: str) -> bytes | None:
    """What a client gets for ``key`` the one way the store says to serve
    it: its file, the URL it redirects to, or a stream of ``read``; None
    when there is no such blob."""
    way = blobs.serving(key)
    if way.path is not None:
        assert not way.url
        return way.path.read_bytes() if way.path.is_file() else None
    if way.url:
        assert way.seconds > 0
        answer = httpx.get(way.url)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.content
    try:
        return b"".join(blobs.read(key))
    except NotFound:
        return None


def _redirecting(settings: Settings) -> BlobStore:
    """The store bootstrap builds when /images/... may redirect."""
    return build_blob_store(settings.replace(files_redirect=True, files_redirect_seconds=120))


@pytest.mark.parametrize("redirect", [False, True])
def test_each_blob_is_served_the_way_the_store_says(
    services: Services, settings: Settings, tmp_path: Path, redirect: bool
) -> None:
    blobs = _redirecting(settings) if redirect else services.blobs
    source = tmp_path / "big.bin"
    source.write_bytes(b"b" * 3_000_000)
    blobs.put("6/60.jpg", b"small", "image/jpeg")
    blobs.put("6/61.jpg", source, "image/jpeg")
    assert _served(blobs, "6/60.jpg") == b"small"
    assert _served(blobs, "6/61.jpg") == source.read_bytes()
    assert _served(blobs, "6/62.jpg") is None  # asked for without a look: its way finds out
    blobs.delete(["6/61.jpg"])
    assert _served(blobs, "6/61.jpg") is None


def test_the_settings_decide_whether_a_bucket_redirects(settings: Settings) -> None:
    """Local files are always served from disk. A bucket redirects to a
    presigned URL valid VITRINA_FILES_REDIRECT_SECONDS, unless files are
    streamed (VITRINA_FILES_REDIRECT=false) or image URLs point elsewhere
    (VITRINA_FILES_URL)."""
    on_s3 = settings.effective_storage_url.startswith("s3://")
    redirecting = _redirecting(settings).serving("7/70.jpg")
    if on_s3:
        assert redirecting.path is None and redirecting.seconds == 120
        assert "X-Amz-Expires=120" in redirecting.url and "X-Amz-Signature" in redirecting.url
    else:
        assert redirecting.path is not None and not redirecting.url
    for streamed in (
        settings.replace(files_redirect=False),
        settings.replace(files_redirect=True, files_url="https://cdn.shop.example"),
    ):
        way = build_blob_store(streamed).serving("7/70.jpg")
        assert not way.url
        assert (way.path is None) == on_s3
