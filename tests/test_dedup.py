"""Identical uploads in one store are stored once (docs/images.md, "Stored
once"): a repeated upload gets files of its own, with its own URLs (its id
is its thumbnail's file id, as on Ecwid), over the bytes stored for the
first one, and decodes and writes nothing. Those bytes stay while any file
names them, through replaces, deletes, renditions and the sweep, under
races; a crash leaves nothing the sweep cannot take. On SQLite + local
files and on PostgreSQL + S3."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, make_store, migrated, migrated_to, run_jobs
from tests.processes import start_serve, vitrina_serve, wait_ready
from tests.processors import PassingThrough
from tests.servers import ImageServer
from vitrina.bootstrap import Services, build_services
from vitrina.cli import main
from vitrina.domain.seams import BlobStore, ImageProcessor
from vitrina.domain.values import ImageHeader, ProcessedImage, Store
from vitrina.settings import Settings
from vitrina.usecases import category_images as image_cases
from vitrina.usecases import transfer
from vitrina.usecases.consequences import follow
from vitrina.web.app import create_app

FIELDS = ("originalImageUrl", "thumbnailUrl", "hdThumbnailUrl", "imageUrl")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Dedup is asked for (on by default, unless VITRINA_FILES_URL is set)."""
    return settings.replace(dedup_uploads=True)


def stored(services: Services) -> dict[str, int]:
    """Every blob in the store: key -> size."""
    return {entry.key: entry.size for entry in services.blobs.list()}


def image_keys(api: Api, category_id: int) -> set[str]:
    data = api.category(category_id)
    return {data[field].split("/images/", 1)[1] for field in FIELDS}


def served(api: Api, keys: set[str], **headers: str) -> set[int]:
    return {api.client.get(f"/images/{key}", headers=headers).status_code for key in keys}


def blob_keys(services: Services, api: Api, keys: set[str]) -> set[str]:
    """Where the bytes of the files behind these URL keys are stored."""
    found = set()
    for key in keys:
        file_id, ext = key.rsplit("/", 1)[1].split(".")
        file = services.metadata.images.find_file(api.store_id, int(file_id))
        assert file is not None, key
        found.add(f"{api.store_id}/{file.blob}.{ext}")
    return found


def same_bytes(api: Api, one: set[str], other: set[str]) -> bool:
    """Whether two images' files, role by role, are answered with the same bytes."""

    def contents(keys: set[str]) -> list[bytes]:
        ordered = sorted(keys, key=lambda k: int(k.rsplit("/", 1)[1].split(".")[0]))
        return [api.client.get(f"/images/{key}").content for key in ordered]

    return contents(one) == contents(other)


def store_of(services: Services, api: Api) -> Store:
    store = services.metadata.stores.get_store(api.store_id)
    assert store is not None
    return store


class Writes:
    """The real blob store; notes every file written."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.written: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes | Path, content_type: str) -> None:
        self.written.append(key)
        self.inner.put(key, data, content_type)

    def place(self, key: str, path: Path, content_type: str) -> None:
        self.written.append(key)
        self.inner.place(key, path, content_type)


class Processor(PassingThrough):
    """The real processor; counts decodes, and runs ``on_probe`` (once)
    when an upload's header is read."""

    def __init__(self, real: ImageProcessor, on_probe: Callable[[], None] | None = None) -> None:
        super().__init__(real)
        self.decodes = 0
        self.on_probe = on_probe

    def probe(self, source: Path) -> ImageHeader:
        if self.on_probe is not None:
            then, self.on_probe = self.on_probe, None
            then()
        return self.real.probe(source)

    def process(self, source: Path, header: ImageHeader, *args: Any) -> ProcessedImage:
        self.decodes += 1
        return self.real.process(source, header, *args)


def test_a_repeated_upload_stores_no_new_bytes_and_decodes_nothing(
    api: Api, services: Services
) -> None:
    photo = images.phone_jpeg()
    first, second = api.create(name="First"), api.create(name="Second")
    answer = api.upload(first, photo)
    assert answer.status_code == 200, answer.text
    keys = image_keys(api, first)
    before = stored(services)
    assert set(before) == keys
    services.blobs = writes = Writes(services.blobs)
    services.processor = processor = Processor(services.processor)
    again = api.upload(second, photo)
    assert again.status_code == 200, again.text
    assert writes.written == [] and processor.decodes == 0
    assert stored(services) == before
    one, other = api.category(first), api.category(second)
    new_id = again.json()["id"]
    assert new_id != answer.json()["id"]  # an image of its own, with URLs of its own:
    assert other["thumbnailUrl"].endswith(f"/{new_id}.jpg")  # its id is its thumbnail's
    mine = image_keys(api, second)
    assert not mine & keys
    assert blob_keys(services, api, mine) == keys
    for field in ("originalImage", "borderInfo"):
        assert {**other[field], "url": ""} == {**one[field], "url": ""}
    assert served(api, keys | mine) == {200}
    assert same_bytes(api, mine, keys)


def test_the_same_bytes_are_stored_once_per_store_and_per_processing(
    api: Api, services: Services, client: TestClient
) -> None:
    body = images.jpeg(1600, 1200)
    elsewhere = make_store(services, client, name="Another shop")
    here, there = api.create(), elsewhere.create()
    api.upload(here, body)
    elsewhere.upload(there, body)
    assert len(stored(services)) == 2 * 4  # stores share nothing
    kept = api.create(name="Kept as uploaded")
    services.settings = services.settings.replace(keep_original=True)
    api.upload(kept, body)
    assert len(stored(services)) == 3 * 4  # other files from the same bytes
    services.settings = services.settings.replace(keep_original=False, dedup_uploads=False)
    unshared = api.create(name="Unshared")
    api.upload(unshared, body)
    assert len(stored(services)) == 4 * 4
    services.settings = services.settings.replace(dedup_uploads=True)
    shared = api.create(name="Shared")
    api.upload(shared, body)
    assert len(stored(services)) == 4 * 4
    here_bytes = blob_keys(services, api, image_keys(api, here))
    assert blob_keys(services, api, image_keys(api, shared)) == here_bytes  # not unshared's


def test_files_stay_while_any_image_shows_them(api: Api, services: Services) -> None:
    body, other = images.jpeg(1400, 1000), images.png(300, 200)
    a, b = api.create(name="A"), api.create(name="B")
    c = api.create(name="C", parentId=b)
    for category_id in (a, b, c):
        assert api.upload(category_id, body).status_code == 200
    shared = image_keys(api, a)  # where the bytes are
    of_a, of_b, of_c = (image_keys(api, n) for n in (a, b, c))
    assert not of_b & shared and not of_c & shared and not of_b & of_c
    assert set(stored(services)) == shared
    api.upload(a, other)  # replaced: b and c still show the bytes
    mine = image_keys(api, a)
    assert set(stored(services)) == shared | mine
    assert served(api, of_a) == {404}  # a's old URLs went with its image, as on Ecwid
    assert served(api, of_b | of_c) == {200}
    assert api.delete(f"/categories/{b}/image").json() == {"deleteCount": 1}
    assert set(stored(services)) == shared | mine  # c still shows them
    assert served(api, of_b) == {404} and served(api, of_c) == {200}
    api.upload(c, body)  # the same bytes again, over themselves: nothing goes
    again_c = image_keys(api, c)
    assert not again_c & of_c and set(stored(services)) == shared | mine
    assert served(api, again_c) == {200} and served(api, of_c) == {404}
    api.delete(f"/categories/{b}")  # and c with it: nothing shows them now
    assert set(stored(services)) == mine
    api.upload(b := api.create(name="B again"), body)
    again = image_keys(api, b)
    assert not again & shared  # stored anew, under new keys: a key is never used twice
    assert set(stored(services)) == mine | again


def test_renditions_of_shared_files_go_with_the_last_image(api: Api, services: Services) -> None:
    body = images.jpeg(1600, 1200)
    a, b = api.create(), api.create()
    api.upload(a, body)
    api.upload(b, body)
    for category_id in (a, b):
        thumbnail = api.category(category_id)["thumbnailUrl"].split("/images/", 1)[1]
        avif = api.client.get(f"/images/{thumbnail}", headers={"Accept": "image/avif,*/*"})
        assert avif.status_code == 200
        assert api.client.get(f"/images/{thumbnail}?width=320").status_code == 200
    files = image_keys(api, a)
    renditions = set(stored(services)) - files
    assert len(renditions) == 2  # made once, for both categories
    assert all(key.split(".")[0] + ".jpg" in files for key in renditions)  # beside the bytes
    api.delete(f"/categories/{a}/image")
    assert image_cases.sweep(services, grace_seconds=0) == 0  # b still shows them all
    assert set(stored(services)) == files | renditions
    again = api.client.get(f"/images/{thumbnail}", headers={"Accept": "image/avif,*/*"})
    assert again.status_code == 200 and again.content == avif.content
    api.delete(f"/categories/{b}/image")
    assert stored(services) == {}


def test_identical_uploads_at_once_keep_one_copy(api: Api, services: Services) -> None:
    """Uploads of the same bytes running together may each process them;
    the first to commit keeps its files, the others show those and remove
    their own."""
    body = images.jpeg(2400, 1800)
    categories = [api.create(name=f"C{n}") for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda c: api.upload(c, body).status_code, categories))
    assert codes == [200] * len(categories)
    shown = [image_keys(api, c) for c in categories]
    assert len(set().union(*shown)) == 4 * len(categories)  # URLs of their own
    [keys] = {frozenset(blob_keys(services, api, urls)) for urls in shown}
    assert set(stored(services)) == keys
    assert served(api, set().union(*shown)) == {200}


def test_an_upload_whose_files_go_before_it_shows_them_stores_its_own(
    api: Api, services: Services
) -> None:
    """The only image showing the files is deleted (and its files with it)
    after the upload found them and before it commits: it processes and
    stores the bytes itself."""
    body = images.jpeg(1600, 1200)
    a, b = api.create(), api.create()
    api.upload(a, body)
    old = image_keys(api, a)
    store = store_of(services, api)

    def delete_a() -> None:  # and its files, after the commit
        image_cases.delete(services, store.id, a)

    services.processor = processor = Processor(services.processor, on_probe=delete_a)
    assert api.upload(b, body).status_code == 200
    assert processor.decodes == 1
    new = image_keys(api, b)
    assert not new & old
    assert set(stored(services)) == new
    assert served(api, new) == {200} and served(api, old) == {404}


def test_with_a_files_url_files_stored_once_are_served_by_vitrina(
    api: Api, services: Services
) -> None:
    """A bucket or CDN at VITRINA_FILES_URL has no object under a shared
    file's own name: such files (made before it was set, or with dedup asked
    for) keep URLs of vitrina's, which resolves them; the rest are the CDN's.
    With dedup left to auto, a files URL stores each upload anew."""
    body = images.jpeg(1600, 1200)
    first, second, third = api.create(), api.create(), api.create()
    api.upload(first, body)
    api.upload(second, body)  # stored once
    services.settings = services.settings.replace(files_url="https://cdn.example/vitrina")
    one, other = api.category(first), api.category(second)
    for field in FIELDS:
        assert one[field].startswith("https://cdn.example/vitrina/images/1/")
        assert other[field].startswith("http://testserver/images/1/")
    assert served(api, image_keys(api, second)) == {200}
    before = len(stored(services))
    services.settings = services.settings.replace(dedup_uploads=None)  # auto
    api.upload(third, body)
    assert len(stored(services)) == before + 4  # stored anew: the CDN serves it
    assert api.category(third)["thumbnailUrl"].startswith("https://cdn.example/vitrina/")


def _waiting_for_locks(services: Services, count: int = 1) -> bool:
    """PostgreSQL: whether ``count`` lock requests (or more) are waiting."""
    assert services.engine is not None
    with services.engine.connect() as conn:
        waiting = conn.exec_driver_sql(  # in this test's database: the server is shared
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).scalar()
    return int(waiting or 0) >= count


def test_a_share_and_a_deletion_waiting_for_the_store_take_turns(
    api: Api, services: Services, tmp_path: Path
) -> None:
    """A deletion of the last image showing the files and an upload that
    found them wait for the same store, the deletion first: the upload,
    in its turn, finds them gone and shares nothing. Whoever goes first,
    an image never shows files that were removed."""
    body = images.jpeg(1200, 900)
    source = tmp_path / "upload.jpg"
    source.write_bytes(body)
    a, b = api.create(), api.create()
    api.upload(a, body)
    old = image_keys(api, a)
    store = store_of(services, api)
    digest = image_cases.source_digest(store, False, source)
    records = services.metadata.images
    postgres = services.engine is not None and services.engine.dialect.name == "postgresql"
    results: dict[str, Any] = {}
    db = records.db  # type: ignore[attr-defined]  # the SQL store's: to take the store's turn
    with db.write(store.id):  # another writer of the store, mid-transaction
        deleting = threading.Thread(
            target=lambda: results.update(deleted=records.detach_image(store.id, a))
        )
        deleting.start()
        if postgres:
            assert wait_for(lambda: _waiting_for_locks(services))
        else:
            time.sleep(0.3)
        sharing = threading.Thread(
            target=lambda: results.update(shared=records.share_image(store.id, b, 10**9, digest))
        )
        sharing.start()
        if postgres:  # it found the files, and waits for the store behind the deletion
            assert wait_for(lambda: _waiting_for_locks(services, 2))
        else:
            time.sleep(0.5)
    deleting.join(30)
    sharing.join(30)
    deleted, shared = results["deleted"], results.get("shared")
    if postgres:
        assert shared is None  # the deletion was first in line
    if shared is None:
        assert set(deleted.orphans) == old
        assert api.category(b).get("thumbnailUrl") is None
    else:  # SQLite's writers take turns in any order: the upload went first
        assert deleted.orphans == []
        assert blob_keys(services, api, image_keys(api, b)) == old
    follow(services, deleted)
    if shared is not None:
        assert set(stored(services)) == old
        assert served(api, image_keys(api, b)) == {200}


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_uploads_and_deletions_of_the_same_bytes_racing_lose_no_file(
    api: Api, services: Services
) -> None:
    bodies = [images.jpeg(1600, 1200), images.jpeg(1200, 1600)]
    categories = [api.create(name=f"R{n}") for n in range(6)]
    rng = random.Random(7)
    operations = [(rng.choice(categories), rng.random()) for _ in range(60)]

    def run(op: tuple[int, float]) -> int:
        category_id, dice = op
        if dice < 0.7:
            return api.upload(category_id, bodies[dice < 0.35]).status_code
        return api.delete(f"/categories/{category_id}/image").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(run, operations))
    assert set(codes) == {200}
    shown: set[frozenset[str]] = set()
    urls: set[str] = set()
    for category_id in categories:
        if "thumbnailUrl" in api.category(category_id):
            urls |= image_keys(api, category_id)
            shown.add(frozenset(blob_keys(services, api, image_keys(api, category_id))))
    assert len(shown) <= len(bodies)  # at most one copy of each
    referenced = set().union(*shown)
    assert served(api, urls) == {200}
    assert image_cases.sweep(services, grace_seconds=0) == 0  # nothing was left behind
    assert set(stored(services)) == referenced


def test_a_crash_after_sharing_instead_leaves_only_its_own_files_for_the_sweep(
    api: Api, services: Services, tmp_path: Path
) -> None:
    """An upload that processed the bytes, then found at its commit that an
    identical upload had committed first, shows those files; its own are
    orphans, removed after the commit. Stopped right after the commit (as
    a killed process would be), they are left for the sweep, which takes
    them and nothing else."""
    body = images.jpeg(1600, 1200)
    source = tmp_path / "upload.jpg"
    source.write_bytes(body)
    a, b = api.create(), api.create()
    store = store_of(services, api)
    digest = image_cases.source_digest(store, False, source)
    ids = services.metadata.images.allocate_file_ids(4)
    processed, own = image_cases.process_and_write(services, store, source, ids)
    api.upload(a, body)  # the identical upload, committed first
    shared = image_keys(api, a)
    done = services.metadata.images.attach_image(store.id, b, ids[1], own, processed.border, digest)
    assert done is not None
    assert len(done.orphans) == 4 and not set(done.orphans) & shared
    assert image_keys(api, b) == set(done.orphans)  # its own URLs, over the first one's bytes
    assert blob_keys(services, api, image_keys(api, b)) == shared
    assert len(stored(services)) == 8
    assert image_cases.sweep(services, grace_seconds=3600) == 0  # too young to judge
    assert image_cases.sweep(services, grace_seconds=0) == 4
    assert set(stored(services)) == shared
    assert served(api, image_keys(api, b)) == {200}


def test_an_async_upload_of_bytes_the_store_has_shares_them(
    api: Api, services: Services, remote: ImageServer
) -> None:
    a, b, c = api.create(), api.create(), api.create()
    api.upload(a, images.jpeg(1600, 1200))  # what the remote server serves
    keys = image_keys(api, a)
    for category_id in (b, c):
        answer = api.post(
            f"/categories/{category_id}/image/async",
            json={"url": remote.url("/image.jpg"), "width": 1600, "height": 1200},
        )
        assert answer.status_code == 200, answer.text
    services.blobs = writes = Writes(services.blobs)
    assert run_jobs(services) == 2
    assert writes.written == []
    of_b, of_c = image_keys(api, b), image_keys(api, c)
    assert not of_b & keys and not of_c & keys and not of_b & of_c
    assert blob_keys(services, api, of_b) == blob_keys(services, api, of_c) == keys
    api.delete(f"/categories/{a}")
    assert set(stored(services)) == keys
    assert served(api, of_b | of_c) == {200}


def test_async_uploads_of_new_bytes_store_them_once(
    api: Api, services: Services, remote: ImageServer
) -> None:
    categories = [api.create() for _ in range(3)]
    for category_id in categories:
        api.post(
            f"/categories/{category_id}/image/async",
            json={"url": remote.url("/image.jpg"), "width": 1600, "height": 1200},
        )
    assert run_jobs(services) == 3
    shown = {frozenset(blob_keys(services, api, image_keys(api, c))) for c in categories}
    assert len(shown) == 1
    assert set(stored(services)) == set(next(iter(shown)))


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_the_migration_gives_images_that_shared_files_records_of_their_own(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """At revision 0014 an image could show an earlier upload's files (and
    keep them after that upload's image went). After 0015 each has records
    of its own, under the ids allocated for it, over the same bytes; reads
    and deletions follow; on both databases."""
    from contextlib import ExitStack

    from vitrina.backends.metadata import migrate
    from vitrina.backends.metadata.engine import create_engine
    from vitrina.backends.metadata.schema import categories, files, stores
    from vitrina.backends.metadata.sql import SqlMetadataStore

    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'm.db'}"
        if database == "postgresql":
            url = stack.enter_context(request.getfixturevalue("postgres").database())
        engine = create_engine(url)
        stack.callback(engine.dispose)
        migrated_to(engine, "0014")
        images_then = sa.Table("images", sa.MetaData(), autoload_with=engine)  # with files_id
        made = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        texts = dict.fromkeys(("description", "custom_slug", "seo_title", "seo_description"), "")
        maps: dict[str, dict[str, str]] = {
            f"{field}_translated": {}
            for field in ("name", "description", "seo_title", "seo_description", "alt")
        }
        # category: (image, the upload whose files it shows); 1: its own,
        # 2: 1's, 3: pending, 4: those of upload 4001, whose image is gone
        shown = {1: (1001, 1001), 2: (2001, 1001), 3: (3001, None), 4: (4005, 4001)}
        with engine.begin() as conn:
            conn.execute(
                stores.insert().values(
                    id=1, name="S", storefront_url="https://s.example", created_at=made
                )
            )
            for category_id, (image_id, upload) in shown.items():
                conn.execute(
                    categories.insert().values(
                        id=category_id, store_id=1, order_by=category_id, name="C",
                        enabled=True, product_ids=[], alt_main="", image_id=image_id,
                        created_at=made, updated_at=made, **texts, **maps,
                    )
                )  # fmt: skip
                conn.execute(
                    images_then.insert().values(
                        id=image_id, store_id=1, category_id=category_id, created_at=made,
                        files_id=upload, border={"upload": upload},
                        pending_url=None if upload else "https://img.example/a.jpg",
                    )
                )  # fmt: skip
            conn.execute(
                files.insert(),
                [
                    {"id": upload - 1 + n, "image_id": upload, "store_id": 1, "role": role,
                     "ext": "jpg", "content_type": "image/jpeg", "width": 10 + n, "height": 10,
                     "size": 100, "etag": f"e{upload + n}", "source": f"s{upload}"}
                    for upload in (1001, 4001)
                    for n, role in enumerate(("original", "thumbnail", "hd", "image"))
                ],
            )  # fmt: skip
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(files.c.id, files.c.image_id, files.c.blob_id).order_by(files.c.id)
            ).all()
        own = [(1000 + n, 1001, None) for n in range(4)]
        over_1001 = [(2000 + n, 2001, 1000 + n) for n in range(4)]
        over_4001 = [(4004 + n, 4005, 4000 + n) for n in range(4)]
        assert [tuple(r) for r in rows] == own + over_1001 + over_4001
        metadata = SqlMetadataStore(engine)
        category = metadata.catalog.get_category(1, 4)
        assert category is not None and category.image is not None
        assert [(f.id, f.role, f.blob, f.width) for f in category.image.files] == [
            (4004 + n, role, 4000 + n, 10 + n)
            for n, role in enumerate(("original", "thumbnail", "hd", "image"))
        ]
        pending = metadata.catalog.get_category(1, 3)
        assert pending is not None and pending.image is not None and not pending.image.files
        done = metadata.images.detach_image(1, 1)
        assert done is not None and done.orphans == []  # image 2001 names those bytes
        done = metadata.images.detach_image(1, 2)
        assert done is not None
        assert sorted(done.orphans) == [f"1/{1000 + n}.jpg" for n in range(4)]
        done = metadata.images.detach_image(1, 4)
        assert done is not None
        assert sorted(done.orphans) == [f"1/{4000 + n}.jpg" for n in range(4)]


def test_sharing_survives_export_and_import(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exported from SQLite + local files, imported into either pair: the
    files are moved once, the images still share them, and the next upload
    of the same bytes shares them too."""
    old = Settings(
        data_dir=tmp_path / "old",
        run_jobs=False,
        public_url="http://testserver",
        dedup_uploads=True,
    )
    body = images.jpeg(1600, 1200)
    source = migrated(old)
    with TestClient(create_app(old, source)) as client:
        before = make_store(source, client)
        a, b = before.create(name="A"), before.create(name="B")
        before.upload(a, body)
        before.upload(b, body)
        keys = image_keys(before, a)
    source.close()
    assert main(["export", str(tmp_path / "dump"), "--data-dir", str(tmp_path / "old")]) == 0
    assert "2 images and 4 files" in capsys.readouterr().out
    target = migrated(settings)
    try:
        transfer.import_(target, tmp_path / "dump")
        with TestClient(create_app(settings, target)) as client:
            api = Api(client, before.store_id, before.token)
            assert image_keys(api, a) == keys and set(stored(target)) == keys
            assert blob_keys(target, api, image_keys(api, b)) == keys
            target.blobs = writes = Writes(target.blobs)
            c = api.create(name="C")
            assert api.upload(c, body).status_code == 200
            assert writes.written == [] and blob_keys(target, api, image_keys(api, c)) == keys
            api.delete(f"/categories/{a}")
            api.delete(f"/categories/{b}")
            assert set(stored(target)) == keys and served(api, image_keys(api, c)) == {200}
            api.delete(f"/categories/{c}")
            assert stored(target) == {}
    finally:
        target.close()


def _consistent(settings: Settings, base: str) -> None:
    """Every category's image has its four files, served whole; after a
    sweep the store holds exactly the bytes files name; and the bytes of no
    two live uploads of a store were made from the same source."""
    services = build_services(settings)
    try:
        image_cases.sweep(services, grace_seconds=0)
        referenced: set[str] = set()
        for store in services.metadata.stores.list_stores():
            for category in services.metadata.catalog.list_categories(store.id):
                if category.image is None:
                    continue
                assert len(category.image.files) == 4
                for file in category.image.files:
                    key = f"{store.id}/{file.id}.{file.ext}"
                    referenced.add(f"{store.id}/{file.blob}.{file.ext}")
                    answer = httpx.get(f"{base}/images/{key}", follow_redirects=True, timeout=30)
                    assert answer.status_code == 200, key
                    assert len(answer.content) == file.size
        assert set(stored(services)) == referenced
        assert services.engine is not None
        with services.engine.connect() as conn:
            twice = conn.exec_driver_sql(
                "SELECT store_id, source, role FROM files WHERE source IS NOT NULL "
                "GROUP BY store_id, source, role HAVING count(DISTINCT coalesce(blob_id, id)) > 1"
            ).all()
        assert twice == []
    finally:
        services.close()


@pytest.mark.slow
def test_sigkill_amid_identical_uploads_and_deletions_leaves_every_image_whole(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    """A real server, killed with SIGKILL while threads upload the same
    photos to several categories and delete them: after a restart every
    image is whole, and the sweep leaves exactly the files images show."""
    env = {f"VITRINA_{name.upper()}": str(value) for name, value in backend.items()}
    env["VITRINA_RATE_LIMIT_PER_MINUTE"] = "0"
    env["VITRINA_DEDUP_UPLOADS"] = "true"
    data = tmp_path / "node"
    with vitrina_serve(data, env=env) as first:
        token = first.token()
    server = start_serve(data, env=env, new_session=True)
    process, base = server.process, server.base
    bodies = [images.phone_jpeg(), images.jpeg(2400, 1800), images.png(600, 400)]
    try:
        wait_ready(server)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"{base}/api/v3/1", headers=headers, timeout=30) as client:
            categories = [
                client.post("/categories", json={"name": f"K{n}"}).json()["id"] for n in range(6)
            ]
            for category_id in categories:
                answer = client.post(f"/categories/{category_id}/image", content=bodies[0])
                assert answer.status_code == 200, answer.text

            def keep_going(seed: int) -> None:
                rng = random.Random(seed)
                for _ in range(200):
                    path = f"/categories/{rng.choice(categories)}/image"
                    try:
                        if rng.random() < 0.75:
                            client.post(path, content=rng.choice(bodies))
                        else:
                            client.delete(path)
                    except httpx.HTTPError:
                        return  # the server is gone

            with ThreadPoolExecutor(3) as pool:
                running = [pool.submit(keep_going, seed) for seed in range(3)]
                time.sleep(2.5)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                for future in running:
                    future.result(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    with vitrina_serve(data, env=env) as again:
        settings = Settings.from_env({**env, "VITRINA_DATA_DIR": str(data)})
        _consistent(settings, again.base)
