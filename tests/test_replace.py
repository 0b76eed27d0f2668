"""Replacing and deleting images: atomic, no orphans, crash-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests import sample_images as images
from tests.conftest import Api
from tests.processors import PassingThrough
from vitrina.bootstrap import Services
from vitrina.domain.errors import InvalidImage, StorageUnavailable
from vitrina.domain.naming import file_key
from vitrina.domain.seams import BlobStore, ImageProcessor
from vitrina.domain.values import EncodedFile, ImageHeader, ProcessedImage
from vitrina.usecases import category_images as image_cases


def stored_keys(services: Services) -> set[str]:
    return {entry.key for entry in services.blobs.list()}


def image_keys(api: Api, category_id: int) -> set[str]:
    data = api.category(category_id)
    urls = [data[f] for f in ("originalImageUrl", "thumbnailUrl", "hdThumbnailUrl", "imageUrl")]
    return {url.split("/images/", 1)[1] for url in urls}


def test_replacing_removes_the_old_files(api: Api, services: Services) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(800, 600))
    old = image_keys(api, category_id)
    api.upload(category_id, images.png(300, 200))
    new = image_keys(api, category_id)
    assert not old & new
    assert stored_keys(services) == new
    for key in old:
        assert api.client.get(f"/images/{key}").status_code == 404


def test_delete_image(api: Api, services: Services) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(400, 300))
    keys = image_keys(api, category_id)
    assert api.delete(f"/categories/{category_id}/image").json() == {"deleteCount": 1}
    data = api.category(category_id)
    for field in ("thumbnailUrl", "thumbnail", "imageUrl", "originalImage", "borderInfo"):
        assert field not in data
    assert stored_keys(services) == set()
    for key in keys:
        assert api.client.get(f"/images/{key}").status_code == 404
    assert api.delete(f"/categories/{category_id}/image").json() == {"deleteCount": 0}
    assert api.delete("/categories/999/image").status_code == 404


def test_deleting_a_category_removes_its_files_and_its_subcategories_files(
    api: Api, services: Services
) -> None:
    top = api.create(name="Top")
    child = api.create(name="Child", parentId=top)
    keep = api.create(name="Keep")
    for width, category_id in enumerate((top, child, keep), start=50):
        api.upload(category_id, images.png(width, 50))  # bytes of its own: none stored once
    kept = image_keys(api, keep)
    api.delete(f"/categories/{top}")
    assert stored_keys(services) == kept


def test_many_concurrent_uploads_end_on_one_complete_image(api: Api, services: Services) -> None:
    category_id = api.create()
    bodies = [images.jpeg(600 + 10 * i, 400) for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda body: api.upload(category_id, body).status_code, bodies))
    assert codes == [200] * len(bodies)
    final = image_keys(api, category_id)
    assert stored_keys(services) == final
    for key in final:
        assert api.client.get(f"/images/{key}").status_code == 200


class FailingBlobStore:
    """A real blob store whose n-th write (a put or a place) fails, as a full
    disk would."""

    def __init__(self, inner: BlobStore, fail_on: int) -> None:
        self.inner = inner
        self.writes = 0
        self.fail_on = fail_on
        self.lock = threading.Lock()  # the files of one upload are written in parallel

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _count(self) -> None:
        with self.lock:
            self.writes += 1
            if self.writes == self.fail_on:
                raise StorageUnavailable("Cannot write an image file: No space left on device")

    def put(self, key: str, data: bytes | Path, content_type: str) -> None:
        self._count()
        self.inner.put(key, data, content_type)

    def place(self, key: str, path: Path, content_type: str) -> None:
        self._count()
        self.inner.place(key, path, content_type)


@pytest.mark.parametrize("fail_on", [1, 3, 4])
def test_a_failed_write_keeps_the_old_image_and_leaves_nothing(
    api: Api, services: Services, fail_on: int
) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(500, 400))
    before = image_keys(api, category_id)
    services.blobs = FailingBlobStore(services.blobs, fail_on)
    response = api.upload(category_id, images.jpeg(700, 400))
    assert response.status_code == 503
    assert response.json()["errorCode"] == "SERVICE_UNAVAILABLE"
    assert "No space left" in response.json()["errorMessage"]
    assert image_keys(api, category_id) == before
    assert stored_keys(services) == before


def _upload_until(services: Services, store_id: int, category_id: int, stop: str) -> set[str]:
    """Run the upload's steps by hand and stop (as a killed process would)."""
    store = services.metadata.stores.get_store(store_id)
    assert store is not None
    source = Path(services.settings.data_dir) / "source.jpg"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(images.jpeg(640, 480))
    ids = services.metadata.images.allocate_file_ids(4)
    processed, stored = image_cases.process_and_write(services, store, source, ids)
    if stop == "after files":
        return set()
    replaced = services.metadata.images.attach_image(
        store_id, category_id, ids[1], stored, processed.border
    )
    assert replaced is not None
    return set(replaced.orphans)  # "after commit": the old files are not deleted yet


@pytest.mark.parametrize("stop", ["after files", "after commit"])
def test_a_crash_mid_upload_leaves_only_unreferenced_files_for_the_sweep(
    api: Api, services: Services, stop: str
) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(500, 400))
    left_behind = _upload_until(services, api.store_id, category_id, stop)
    current = image_keys(api, category_id)
    for key in current:  # the category never points at a missing file
        assert api.client.get(f"/images/{key}").status_code == 200
    assert len(stored_keys(services)) == 8
    assert image_cases.sweep(services, grace_seconds=3600) == 0  # too young to judge
    assert image_cases.sweep(services, grace_seconds=0) == 4
    assert stored_keys(services) == current
    assert not left_behind & current


@pytest.mark.embedded_only
def test_the_sweep_also_removes_temporary_files_of_a_crashed_write(services: Services) -> None:
    root = Path(services.settings.effective_storage_url.removeprefix("file://"))
    (root / "7").mkdir(parents=True)
    (root / "7" / ".tmp-abc.part").write_bytes(b"half a file")
    assert image_cases.sweep(services, grace_seconds=0) == 1
    assert not (root / "7" / ".tmp-abc.part").exists()


def test_file_keys_are_per_store() -> None:
    assert file_key(3, 1001, "jpg") == "3/1001.jpg"


def test_the_job_worker_also_sweeps(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vitrina.usecases import upload_jobs as jobs

    category_id = api.create()
    api.upload(category_id, images.jpeg(300, 200))
    current = stored_keys(services)
    _upload_until(services, api.store_id, category_id, "after files")  # a crash leftover
    assert len(stored_keys(services)) == 8
    monkeypatch.setattr(jobs, "SWEEP_EVERY_SECONDS", 0.0)
    services.settings = services.settings.replace(gc_grace_seconds=0, job_poll_seconds=0.05)
    worker = jobs.JobWorker(services)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stored_keys(services) != current:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert stored_keys(services) == current


class FailingAfterOriginal(PassingThrough):
    """The real processor, failing once the original is final (and handed
    over to be stored): as a variant that cannot be made would."""

    def __init__(self, real: ImageProcessor) -> None:
        super().__init__(real)
        self.originals: list[EncodedFile] = []

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
        def then_fail(original: EncodedFile) -> None:
            assert on_original is not None
            on_original(original)
            self.originals.append(original)
            time.sleep(0.5)  # as making variants takes a while: the original's put is done
            raise InvalidImage("The variants could not be made")

        return self.real.process(
            source, header, thumbnail_size, image_size, keep_original, then_fail, scratch
        )


def test_an_upload_that_fails_after_its_original_was_stored_leaves_no_file(
    api: Api, services: Services
) -> None:
    """The original is stored while the variants are made; when making them
    fails, the stored original is removed before the answer."""
    category_id = api.create()
    api.upload(category_id, images.jpeg(500, 400))
    before = stored_keys(services)
    services.processor = failing = FailingAfterOriginal(services.processor)
    response = api.upload(category_id, images.phone_jpeg())
    assert response.status_code == 422, response.text
    assert response.json()["errorCode"] == "INVALID_IMAGE"
    assert len(failing.originals) == 1  # it was handed over, and its put started
    assert stored_keys(services) == before == image_keys(api, category_id)
