"""Serving image files."""

from __future__ import annotations

import pytest

from tests import sample_images as images
from tests.conftest import Api, make_store
from vitrina.bootstrap import Services


def uploaded(api: Api) -> str:
    category_id = api.create()
    api.upload(category_id, images.png(120, 80))
    url: str = api.category(category_id)["thumbnailUrl"]
    return url.removeprefix("http://testserver")


def test_files_are_public_cacheable_and_typed(api: Api) -> None:
    path = uploaded(api)
    response = api.client.get(path)  # no token
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert images.decode(response.content).size == (120, 80)
    again = api.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert api.client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    head = api.client.head(path)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(response.content))
    assert head.content == b""


def test_a_browser_is_told_not_to_guess_the_type(api: Api) -> None:
    path = uploaded(api)
    answer = api.client.get(path, follow_redirects=False)  # 200, or 307 to the bucket
    assert answer.headers["x-content-type-options"] == "nosniff"
    again = api.client.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["x-content-type-options"] == "nosniff"


def test_unknown_files_are_json_404(api: Api) -> None:
    path = uploaded(api)
    store, name = path.split("/")[2:4]
    stem = name.split(".")[0]
    for missing in (
        f"/images/{store}/999999.png",
        f"/images/{store}/{stem}.jpg",  # right id, wrong extension
    ):
        response = api.client.get(missing)
        assert response.status_code == 404, missing
        assert response.json()["errorCode"] == "NOT_FOUND"
    for malformed in (f"/images/{store}/{stem}", f"/images/{store}/{stem}.JPG"):
        response = api.client.get(malformed)
        assert response.status_code == 400, malformed
        assert "<fileId>.<ext>" in response.json()["errorMessage"]


def test_another_stores_path_does_not_serve_the_file(services: Services, api: Api) -> None:
    path = uploaded(api)
    other = make_store(services, api.client)
    name = path.rsplit("/", 1)[1]
    assert api.client.get(f"/images/{other.store_id}/{name}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/images/1/..%2F..%2Fvitrina.db",
        "/images/1/%2e%2e%2fvitrina.db",
        "/images/1/....db",
        "/images/..%2F1/1000.png",
        "/images/1/1000.png%00.jpg",
        "/images/1/-5.png",
        "/images/1/99999999999999999999.png",
    ],
)
def test_no_path_escapes_the_storage_root(api: Api, path: str) -> None:
    uploaded(api)
    response = api.client.get(path)
    assert response.status_code in (400, 404)
    assert response.headers["content-type"].startswith("application/json")


def test_a_file_gone_from_storage_is_a_404(api: Api, services: Services) -> None:
    """The record is there but the blob is not (removed behind vitrina's
    back): the way the store serves it finds out, for a small file read
    whole and a large one streamed."""
    category_id = api.create()
    api.upload(category_id, images.phone_jpeg())
    shown = api.category(category_id)
    keys = [shown[f].split("/images/")[1] for f in ("thumbnailUrl", "originalImageUrl")]
    small, large = (len(b"".join(services.blobs.read(key))) for key in keys)
    assert small < 256 * 1024 < large
    services.blobs.delete(keys)
    for key in keys:
        response = api.client.get(f"/images/{key}")
        assert response.status_code == 404, key
        assert response.json()["errorCode"] == "NOT_FOUND"
