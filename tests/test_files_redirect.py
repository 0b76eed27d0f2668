"""On S3 storage, /images/... answers 307 to a short-lived presigned URL of
the object, which serves the very bytes; conditional requests still get 304;
VITRINA_FILES_REDIRECT=false streams instead, and so does a VITRINA_FILES_URL
(for what still comes to vitrina); local storage always streams."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import sample_images as images
from tests.live import Live, live_vitrina


@pytest.fixture
def on_s3(tmp_path: Path, postgres: Any, s3: Any) -> Iterator[dict[str, Any]]:
    import uuid

    with postgres.database() as url:
        yield {"database_url": url, **s3.settings(uuid.uuid4().hex)}


def _file_url(live: Live) -> str:
    with httpx.Client(headers={"Authorization": f"Bearer {live.token}"}) as http:
        api = f"{live.api}/{live.store}"
        category = http.post(f"{api}/categories", json={"name": "Files"}).json()["id"]
        http.post(f"{api}/categories/{category}/image", content=images.jpeg(1200, 900))
        url: str = http.get(f"{api}/categories/{category}").json()["originalImageUrl"]
    return url


@pytest.mark.slow
def test_files_on_s3_redirect_to_a_presigned_url(
    tmp_path: Path, on_s3: dict[str, Any], s3: Any
) -> None:
    with live_vitrina(tmp_path / "data", files_redirect_seconds=120, **on_s3) as live:
        url = _file_url(live)
        assert url.startswith(live.base + "/images/")
        first = httpx.get(url)
        assert first.status_code == 307
        location = first.headers["location"]
        assert location.startswith(s3.endpoint) and "X-Amz-Signature" in location
        assert "X-Amz-Expires=120" in location
        assert first.headers["cache-control"] == "public, max-age=60"
        etag = first.headers["etag"]
        followed = httpx.get(url, follow_redirects=True)
        assert followed.status_code == 200
        assert followed.content[:3] == b"\xff\xd8\xff"
        streamed_bytes = followed.content
        assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert httpx.head(url).status_code == 307
        # the console may show images from the object store
        console = httpx.get(live.base + "/console/")
        assert s3.endpoint in console.headers["content-security-policy"]
    with live_vitrina(tmp_path / "data2", files_redirect=False, **on_s3) as live:
        url = _file_url(live)
        streamed = httpx.get(url)
        assert streamed.status_code == 200
        assert streamed.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(streamed.content) == len(streamed_bytes)


@pytest.mark.slow
def test_with_a_files_url_what_still_comes_to_vitrina_is_streamed(
    tmp_path: Path, on_s3: dict[str, Any], s3: Any
) -> None:
    cdn = "https://cdn.shop.example/vitrina"
    with live_vitrina(tmp_path / "data", files_url=cdn, **on_s3) as live:
        url = _file_url(live)
        assert url.startswith(cdn + "/images/")
        answer = httpx.get(live.base + url.removeprefix(cdn))
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.content[:3] == b"\xff\xd8\xff"
        policy = httpx.get(live.base + "/console/").headers["content-security-policy"]
    origins = policy.replace(";", " ").split()
    assert "https://cdn.shop.example" in origins
    assert s3.endpoint not in origins  # the console's images never come from the bucket


def test_local_files_are_always_streamed(tmp_path: Path) -> None:
    with live_vitrina(tmp_path / "data") as live:
        answer = httpx.get(_file_url(live))
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.slow
def test_streamed_files_keep_small_hot_ones_in_memory(
    tmp_path: Path, on_s3: dict[str, Any]
) -> None:
    """Streaming from the bucket, a thumbnail is read from it once, then
    served from memory; a large original is read every time; a deleted
    image is a 404 at once, cached or not."""
    with live_vitrina(tmp_path / "data", files_redirect=False, **on_s3) as live:
        headers = {"Authorization": f"Bearer {live.token}"}
        api = f"{live.api}/{live.store}"
        category = httpx.post(f"{api}/categories", json={"name": "Hot"}, headers=headers).json()
        photo = images.phone_jpeg()
        uploaded = httpx.post(
            f"{api}/categories/{category['id']}/image", content=photo, headers=headers, timeout=60
        )
        assert uploaded.status_code == 200
        shown = httpx.get(f"{api}/categories/{category['id']}", headers=headers).json()
        thumbnail, original = shown["thumbnailUrl"], shown["originalImageUrl"]
        first = httpx.get(thumbnail)
        big = httpx.get(original)
        assert first.status_code == big.status_code == 200
        assert len(first.content) < 256 * 1024 < len(big.content)
        # take both objects out of the bucket behind vitrina's back
        keys = [url.split("/images/")[1] for url in (thumbnail, original)]
        live.services.blobs.delete(keys)
        again = httpx.get(thumbnail)
        assert again.status_code == 200 and again.content == first.content
        assert again.headers["etag"] == first.headers["etag"]
        assert httpx.get(original).status_code == 404  # large: never kept
        deleted = httpx.delete(f"{api}/categories/{category['id']}/image", headers=headers)
        assert deleted.status_code == 200
        assert httpx.get(thumbnail).status_code == 404


@pytest.mark.slow
def test_a_burst_of_file_reads_leaves_few_database_connections_open(
    tmp_path: Path, on_s3: dict[str, Any]
) -> None:
    """Each file request reads the file's record in a worker thread; the
    threads share a small pool of connections, so the database is not left
    holding one per thread that ever served a file (docs/deployment.md)."""
    import sqlalchemy as sa

    from vitrina.backends.metadata.engine import READER_POOL, WRITER_POOL

    with live_vitrina(tmp_path / "data", files_redirect=False, **on_s3) as live:
        url = _file_url(live)
        with httpx.Client() as http, ThreadPoolExecutor(48) as pool:
            answers = list(pool.map(lambda _: http.get(url).status_code, range(400)))
        assert answers == [200] * 400
        engine = sa.create_engine(on_s3["database_url"])
        with engine.connect() as conn:
            open_now = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        engine.dispose()
    # kept between bursts: the two pools' steady sizes and the version check
    assert open_now is not None and open_now <= WRITER_POOL[0] + READER_POOL[0] + 1, open_now


@pytest.mark.slow
def test_a_redirect_goes_to_the_chosen_format(
    tmp_path: Path, on_s3: dict[str, Any], s3: Any
) -> None:
    """With S3 redirects, negotiation is kept: the 307 varies on Accept and
    points at the rendition's own object, which the bucket serves typed."""
    with live_vitrina(tmp_path / "data", **on_s3) as live:
        with httpx.Client(headers={"Authorization": f"Bearer {live.token}"}) as http:
            api = f"{live.api}/{live.store}"
            category = http.post(f"{api}/categories", json={"name": "Photo"}).json()["id"]
            photo = images.photo(2400, 1800).jpegsave_buffer(Q=90)
            http.post(f"{api}/categories/{category}/image", content=photo)
            url = http.get(f"{api}/categories/{category}").json()["imageUrl"]
        plain = httpx.get(url)
        avif = httpx.get(url, headers={"Accept": "image/avif,image/webp,*/*"})
        assert plain.status_code == avif.status_code == 307
        assert plain.headers["vary"] == avif.headers["vary"] == "Accept"
        assert plain.headers["etag"] != avif.headers["etag"]
        assert ".jpg.avif" in avif.headers["location"].split("?")[0]
        assert ".jpg.avif" not in plain.headers["location"]
        followed = httpx.get(avif.headers["location"])
        assert followed.status_code == 200
        assert followed.headers["content-type"] == "image/avif"
        assert followed.content[4:12] == b"ftypavif"
        again = httpx.get(
            url,
            headers={"Accept": "image/avif,image/webp,*/*", "If-None-Match": avif.headers["etag"]},
        )
        assert again.status_code == 304
        sized = httpx.get(url + "?width=320", headers={"Accept": "image/webp"})
        assert sized.status_code == 307
        assert ".jpg.w320.webp" in sized.headers["location"].split("?")[0]


@pytest.mark.slow
def test_a_file_stored_once_redirects_to_the_object_holding_its_bytes(
    tmp_path: Path, on_s3: dict[str, Any]
) -> None:
    """Identical uploads (stored once, on by default) keep URLs of their
    own; on S3 each redirects to the one object that holds the bytes, and
    keeps doing so after the first upload's image is gone."""
    photo = images.photo(2400, 1800).jpegsave_buffer(Q=90)
    with (
        live_vitrina(tmp_path / "data", **on_s3) as live,
        httpx.Client(headers={"Authorization": f"Bearer {live.token}"}) as http,
    ):
        api = f"{live.api}/{live.store}"
        first, second = (
            http.post(f"{api}/categories", json={"name": name}).json()["id"]
            for name in ("First", "Second")
        )
        for category in (first, second):
            answer = http.post(f"{api}/categories/{category}/image", content=photo)
            assert answer.status_code == 200, answer.text
        mine, theirs = (
            http.get(f"{api}/categories/{c}").json()["imageUrl"] for c in (second, first)
        )
        assert mine != theirs  # URLs of its own
        their_key = theirs.split("/images/", 1)[1]
        plain = httpx.get(mine)
        assert plain.status_code == 307
        assert plain.headers["location"].split("?")[0].endswith("/" + their_key)
        avif = httpx.get(mine, headers={"Accept": "image/avif,*/*"})
        assert avif.headers["location"].split("?")[0].endswith(f"/{their_key}.avif")
        assert http.delete(f"{api}/categories/{first}").status_code == 200
        assert httpx.get(theirs).status_code == 404
        followed = httpx.get(mine, follow_redirects=True)
        assert followed.status_code == 200
        assert followed.content == httpx.get(plain.headers["location"]).content
