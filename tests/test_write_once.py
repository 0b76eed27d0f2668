"""Each byte of an upload written once: the processor hands over
every file with its size and ETag, the original is written once into the blob
store's scratch folder and, on local disk, renamed under its key. Run on
SQLite + local files and on PostgreSQL + S3, at a phone photo's real size."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import sample_images as images
from tests.conftest import Api
from tests.processors import PassingThrough
from vitrina.bootstrap import Services, build_services
from vitrina.domain.errors import MetadataUnavailable
from vitrina.domain.naming import parse_key
from vitrina.domain.seams import BlobStore, ImageProcessor
from vitrina.domain.values import Consequences, EncodedFile, ImageHeader, ProcessedImage
from vitrina.settings import Settings
from vitrina.usecases import category_images as image_cases

FIELDS = ("originalImageUrl", "thumbnailUrl", "hdThumbnailUrl", "imageUrl")


def _key(url: str) -> str:
    return url.split("/images/", 1)[1]


def _keys(api: Api, category_id: int) -> dict[str, str]:
    data = api.category(category_id)
    return {field: _key(data[field]) for field in FIELDS}


def _stored_keys(services: Services) -> set[str]:
    return {entry.key for entry in services.blobs.list()}


@pytest.mark.parametrize("keep_original", [False, True])
def test_each_file_is_what_its_record_and_the_file_route_say(
    api: Api, services: Services, keep_original: bool
) -> None:
    services.settings = services.settings.replace(keep_original=keep_original)
    body = images.phone_jpeg(private=True)
    category_id = api.create()
    assert api.upload(category_id, body).status_code == 200
    for field, key in _keys(api, category_id).items():
        parsed = parse_key(key)
        assert parsed is not None
        record = services.metadata.images.find_file(parsed[0], parsed[1])
        assert record is not None
        stored = b"".join(services.blobs.read(key))
        served = api.client.get(f"/images/{key}")
        assert served.status_code == 200, served.text
        assert served.content == stored, field
        assert record.size == len(stored) == int(served.headers["content-length"]), field
        assert record.etag == hashlib.sha256(stored).hexdigest()[:40], field
        assert served.headers["etag"] == f'"{record.etag}"', field
        on_disk = services.blobs.serving(key).path
        if on_disk is not None:  # local storage: the same bytes under the key
            assert on_disk.read_bytes() == stored
    original = b"".join(services.blobs.read(_keys(api, category_id)["originalImageUrl"]))
    if keep_original:
        assert original == body
    else:
        assert len(original) < len(body)  # stripped of private metadata
        assert images.decode(original).size == (images.PHONE[1], images.PHONE[0])  # as stored


class Watching(PassingThrough):
    """The real processor; notes the original's file (its path and inode) at
    the moment it is handed over to be stored."""

    def __init__(self, real: ImageProcessor) -> None:
        super().__init__(real)
        self.handed: list[tuple[Path, int]] = []

    def process(
        self,
        source: Path,
        header: ImageHeader,
        thumbnail_size: int,
        image_size: int,
        keep_original: bool,
        on_original: Callable[[EncodedFile], None] | None = None,
        scratch: Path | None = None,
    ) -> ProcessedImage:
        def noting(original: EncodedFile) -> None:
            assert isinstance(original.data, Path)
            self.handed.append((original.data, original.data.stat().st_ino))
            assert on_original is not None
            on_original(original)

        return self.real.process(
            source, header, thumbnail_size, image_size, keep_original, noting, scratch
        )


@pytest.mark.embedded_only
def test_on_local_disk_the_original_is_moved_into_place_not_copied(
    api: Api, services: Services
) -> None:
    services.processor = watching = Watching(services.processor)
    category_id = api.create()
    assert api.upload(category_id, images.phone_jpeg()).status_code == 200
    [(scratch, inode)] = watching.handed
    stored = services.blobs.serving(_keys(api, category_id)["originalImageUrl"]).path
    assert stored is not None
    assert stored.stat().st_ino == inode  # the file the processor wrote, renamed
    assert stored.parent == scratch.parent  # written in the key's own folder
    assert not scratch.exists()
    assert stored.stat().st_mode & 0o777 == 0o644
    assert _stored_keys(services) == set(_keys(api, category_id).values())  # no scratch left


@pytest.mark.embedded_only
def test_kept_as_uploaded_the_callers_file_is_copied_once_and_left_to_it(
    api: Api, services: Services, tmp_path: Path
) -> None:
    """With VITRINA_KEEP_ORIGINAL the upload itself is stored: the source
    belongs to the caller (it deletes it, or reads it again), so it is copied
    once into the scratch folder, and that copy is renamed."""
    services.settings = services.settings.replace(keep_original=True)
    services.processor = watching = Watching(services.processor)
    body = images.phone_jpeg()
    source = tmp_path / "upload.jpg"
    source.write_bytes(body)
    store = services.metadata.stores.get_store(api.store_id)
    assert store is not None
    category_id = api.create()
    image_cases.upload(services, store, category_id, source)
    assert source.read_bytes() == body  # still the caller's, untouched
    [(_scratch, inode)] = watching.handed
    stored = services.blobs.serving(_keys(api, category_id)["originalImageUrl"]).path
    assert stored is not None
    assert stored.read_bytes() == body
    assert stored.stat().st_ino == inode != source.stat().st_ino


class _FailingCommit:
    """The real metadata store whose image commit fails, as a database that
    went away would, after every file was stored."""

    def __init__(self, inner: Any, blobs: BlobStore) -> None:
        self.inner = inner
        self.blobs = blobs
        self.stored_at_commit: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def attach_image(self, store_id: int, category_id: int, *args: Any) -> Consequences | None:
        self.stored_at_commit = sorted(entry.key for entry in self.blobs.list())
        raise MetadataUnavailable("The metadata database is not reachable")


class _Metadata:
    def __init__(self, inner: Any, images: _FailingCommit) -> None:
        self.inner = inner
        self.images = images

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failed_commit_after_the_original_was_placed_leaves_the_old_image(
    api: Api, services: Services
) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(500, 400))
    before = _keys(api, category_id)
    failing = _FailingCommit(services.metadata.images, services.blobs)
    real = services.metadata
    services.metadata = _Metadata(real, failing)
    response = api.upload(category_id, images.phone_jpeg())
    services.metadata = real
    assert response.status_code == 503, response.text
    assert len(failing.stored_at_commit) == 8  # the new four were in place at the commit
    assert _keys(api, category_id) == before
    assert _stored_keys(services) == set(before.values())


KILLED = 70


class _DyingAfterPlace:
    """The real blob store; the process dies the moment a file is placed."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def place(self, key: str, path: Path, content_type: str) -> None:
        self.inner.place(key, path, content_type)
        os._exit(KILLED)  # as kill -9 would, between the rename and the commit


def _upload_and_die(settings: Settings, store_id: int, category_id: int, source: Path) -> None:
    services = build_services(settings)
    services.blobs = _DyingAfterPlace(services.blobs)
    store = services.metadata.stores.get_store(store_id)
    assert store is not None
    image_cases.upload(services, store, category_id, source)


def test_a_process_killed_after_the_originals_rename_leaves_an_orphan_for_the_sweep(
    api: Api, services: Services, tmp_path: Path
) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(500, 400))
    before = _keys(api, category_id)
    source = tmp_path / "upload.jpg"
    source.write_bytes(images.phone_jpeg())
    spawn = multiprocessing.get_context("spawn")  # a fork would inherit libvips' threads
    child = spawn.Process(
        target=_upload_and_die, args=(services.settings, api.store_id, category_id, source)
    )
    child.start()
    child.join(120)
    assert child.exitcode == KILLED
    assert _keys(api, category_id) == before  # never pointing at the new files
    for key in before.values():
        assert api.client.get(f"/images/{key}").status_code == 200
    orphans = _stored_keys(services) - set(before.values())
    assert any(key.endswith(".jpg") for key in orphans)  # at least the original, stored
    assert not any("/." in key for key in orphans)  # no scratch or half-written file
    assert image_cases.sweep(services, grace_seconds=3600) == 0  # too young to judge
    assert image_cases.sweep(services, grace_seconds=0) == len(orphans)
    assert _stored_keys(services) == set(before.values())
