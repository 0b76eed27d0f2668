"""Image delivery: AVIF and WebP for browsers that accept them, widths for
srcset (docs/images.md). On SQLite + disk and on PostgreSQL + S3."""

from __future__ import annotations

from typing import Any

import pytest
import pyvips

from tests import sample_images as images
from tests.conftest import Api
from vitrina.backends.imaging.renditions import ssim
from vitrina.bootstrap import Services
from vitrina.usecases.category_images import sweep

BROWSER = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def _photo_jpeg(width: int = 2400, height: int = 1800) -> bytes:
    data: bytes = images.photo(width, height).jpegsave_buffer(Q=90)
    return data


def _uploaded(api: Api, data: bytes | None = None) -> tuple[int, dict[str, Any]]:
    category_id = api.create()
    answer = api.upload(category_id, data or _photo_jpeg())
    assert answer.status_code == 200, answer.text
    return category_id, api.category(category_id)


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


def test_a_browser_gets_avif_with_vary_and_its_own_etag(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    jpeg = api.client.get(path)
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.headers["vary"] == "Accept"
    avif = api.client.get(path, headers={"Accept": BROWSER})
    assert avif.status_code == 200
    assert avif.headers["content-type"] == "image/avif"
    assert avif.headers["vary"] == "Accept"
    assert avif.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert avif.headers["etag"] != jpeg.headers["etag"]
    decoded = _decoded(avif.content)
    stored = _decoded(jpeg.content)
    assert (decoded.width, decoded.height) == (stored.width, stored.height) == (1200, 900)
    assert len(avif.content) <= len(jpeg.content)
    # as close to the JPEG's pixels as the JPEG is to itself, near enough
    assert ssim(stored, decoded) > 0.95
    again = api.client.get(path, headers={"Accept": BROWSER})
    assert again.content == avif.content and again.headers["etag"] == avif.headers["etag"]


def test_webp_only_gets_webp_and_no_accept_gets_the_stored_format(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    webp = api.client.get(path, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp"
    jpeg = _decoded(api.client.get(path).content)
    shown = _decoded(webp.content)
    assert (shown.width, shown.height) == (jpeg.width, jpeg.height)
    for accept in ("", "*/*", "image/*", "image/jpeg", "image/avif;q=0,image/webp;q=0"):
        plain = api.client.get(path, headers={"Accept": accept} if accept else {})
        assert plain.headers["content-type"] == "image/jpeg", accept
        assert plain.content[:3] == b"\xff\xd8\xff"


def test_q_values_choose_and_refuse(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    cases = {
        "image/avif;q=0.5,image/webp;q=0.9": "image/webp",
        "image/avif;q=0,image/webp": "image/webp",
        "image/webp;q=0.5,image/avif;q=0.5": "image/avif",  # a tie: the server's order
        "image/avif;q=abc,image/webp;q=2": "image/jpeg",  # unreadable q: not acceptable
        "IMAGE/AVIF": "image/avif",
    }
    for accept, expected in cases.items():
        answer = api.client.get(path, headers={"Accept": accept})
        assert answer.status_code == 200, accept
        assert answer.headers["content-type"] == expected, accept


def test_304_per_format(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["thumbnailUrl"])
    avif = api.client.get(path, headers={"Accept": "image/avif"})
    webp = api.client.get(path, headers={"Accept": "image/webp"})
    jpeg = api.client.get(path)
    tags = {r.headers["etag"] for r in (avif, webp, jpeg)}
    assert len(tags) == 3
    for accept, answer in (("image/avif", avif), ("image/webp", webp), ("", jpeg)):
        headers = {"If-None-Match": answer.headers["etag"], "Accept": accept}
        same = api.client.get(path, headers=headers)
        assert same.status_code == 304, accept
        assert same.headers["vary"] == "Accept"
        assert same.headers["etag"] == answer.headers["etag"]
    # another format's ETag does not match: the full answer
    other = api.client.get(path, headers={"If-None-Match": avif.headers["etag"]})
    assert other.status_code == 200 and other.headers["content-type"] == "image/jpeg"


def test_head_of_a_rendition(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["thumbnailUrl"])
    head = api.client.head(path, headers={"Accept": "image/avif"})
    assert head.status_code == 200
    assert head.headers["content-type"] == "image/avif"
    body = api.client.get(path, headers={"Accept": "image/avif"}).content
    assert head.headers["content-length"] == str(len(body))


def test_the_original_is_served_as_uploaded(api: Api) -> None:
    _, category = _uploaded(api)
    path = _path(category["originalImageUrl"])
    answer = api.client.get(path, headers={"Accept": BROWSER})
    assert answer.headers["content-type"] == "image/jpeg"
    assert "vary" not in answer.headers


def test_widths_from_the_allow_list(api: Api) -> None:
    _, category = _uploaded(api)  # 2400 x 1800
    path = _path(category["imageUrl"])
    for width in (160, 800, 1600):
        answer = api.client.get(path, params={"width": width})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/jpeg"
        decoded = _decoded(answer.content)
        assert (decoded.width, decoded.height) == (width, width * 3 // 4)
    thumb = _path(category["thumbnailUrl"])  # any file of the image: from the original
    assert _decoded(api.client.get(thumb, params={"width": 1200}).content).width == 1200
    avif = api.client.get(path, params={"width": 480}, headers={"Accept": BROWSER})
    assert avif.headers["content-type"] == "image/avif"
    assert avif.headers["vary"] == "Accept"
    assert _decoded(avif.content).width == 480
    same = api.client.get(
        path,
        params={"width": 480},
        headers={"Accept": BROWSER, "If-None-Match": avif.headers["etag"]},
    )
    assert same.status_code == 304


def test_a_width_never_enlarges(api: Api) -> None:
    _, category = _uploaded(api, _photo_jpeg(700, 500))
    answer = api.client.get(_path(category["originalImageUrl"]), params={"width": 1600})
    assert answer.status_code == 200
    decoded = _decoded(answer.content)
    assert (decoded.width, decoded.height) == (700, 500)


@pytest.mark.parametrize(
    "query", ["width=100", "width=abc", "width=99999", "width=-160", "width=", "width=1e3"]
)
def test_other_widths_are_a_400_listing_the_allowed(api: Api, query: str) -> None:
    _, category = _uploaded(api)
    answer = api.client.get(_path(category["imageUrl"]) + "?" + query)
    assert answer.status_code == 400
    assert "160, 320, 480, 640, 800, 1200, 1600" in answer.json()["errorMessage"]


def test_a_repeated_width_is_a_400(api: Api) -> None:
    _, category = _uploaded(api)
    answer = api.client.get(_path(category["imageUrl"]) + "?width=160&width=320")
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "accept",
    [
        ",,,;;;",
        "image/avif;q=",
        "image/avif;;q=1;q=0",
        "image/avif;q=nan",
        "image/avif;q=inf",
        "é/ü",
        "image/avif," * 2000,
        "image/avif;q=0.9;level=1;x=\x7f",
    ],
)
def test_odd_accept_headers_never_fail(api: Api, accept: str) -> None:
    _, category = _uploaded(api)
    answer = api.client.get(
        _path(category["thumbnailUrl"]), headers={b"Accept": accept.encode("latin-1", "replace")}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] in ("image/avif", "image/jpeg")


def test_deleting_the_image_removes_its_renditions(api: Api, services: Services) -> None:
    category_id, category = _uploaded(api)
    path = _path(category["imageUrl"])
    assert api.client.get(path, headers={"Accept": BROWSER}).status_code == 200
    assert api.client.get(path, params={"width": 320}).status_code == 200
    keys = {e.key for e in services.blobs.list()}
    assert any(k.endswith(".jpg.avif") for k in keys)
    assert any(k.endswith(".jpg.w320.jpg") for k in keys)
    api.delete(f"/categories/{category_id}/image")
    assert {e.key for e in services.blobs.list()} == set()
    assert api.client.get(path, headers={"Accept": BROWSER}).status_code == 404


def test_replacing_the_image_removes_its_renditions(api: Api, services: Services) -> None:
    category_id, category = _uploaded(api)
    assert api.client.get(_path(category["imageUrl"]), headers={"Accept": BROWSER}).is_success
    api.upload(category_id, _photo_jpeg(1600, 1200))
    keys = {e.key for e in services.blobs.list()}
    assert len(keys) == 4  # the new image's four files
    assert not any(".jpg." in k for k in keys)


def test_the_sweep_keeps_a_referenced_files_renditions(api: Api, services: Services) -> None:
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    api.client.get(path, headers={"Accept": BROWSER})
    api.client.get(path, params={"width": 640}, headers={"Accept": "image/webp"})
    before = {e.key for e in services.blobs.list()}
    assert len(before) == 6
    assert sweep(services, grace_seconds=0) == 0
    assert {e.key for e in services.blobs.list()} == before
    # a rendition whose file is gone (a crash between a deletion and its
    # renditions', say) is swept
    key = next(k for k in before if k.endswith(".jpg.avif"))
    orphan = key.replace(key.split("/")[1].split(".")[0], "999999", 1)
    services.blobs.put(orphan, b"x", "image/avif")
    assert sweep(services, grace_seconds=0) == 1
    assert {e.key for e in services.blobs.list()} == before


def test_turned_off_no_vary_and_the_stored_format(api: Api, services: Services) -> None:
    services.settings = services.settings.replace(image_formats=())
    _, category = _uploaded(api)
    answer = api.client.get(_path(category["imageUrl"]), headers={"Accept": BROWSER})
    assert answer.headers["content-type"] == "image/jpeg"
    assert "vary" not in answer.headers


def test_a_png_with_alpha_gets_lossless_renditions(api: Api) -> None:
    _, category = _uploaded(api, images.png(900, 600, alpha=True))
    path = _path(category["imageUrl"])
    png = api.client.get(path)
    webp = api.client.get(path, headers={"Accept": "image/webp"})
    assert webp.headers["content-type"] in ("image/webp", "image/png")
    assert len(webp.content) <= len(png.content)
    a, b = _decoded(png.content), _decoded(webp.content)
    assert b.hasalpha() and (a.width, a.height) == (b.width, b.height)
    assert (a - b).abs().max() == 0  # the same pixels


def test_widths_setting_changes_the_allow_list(api: Api, services: Services) -> None:
    services.settings = services.settings.replace(image_widths=(300,))
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    assert api.client.get(path, params={"width": 300}).status_code == 200
    refused = api.client.get(path, params={"width": 320})
    assert refused.status_code == 400 and "300" in refused.json()["errorMessage"]


def test_a_rendition_removed_by_hand_is_made_again(api: Api, services: Services) -> None:
    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    first = api.client.get(path, headers={"Accept": "image/avif"})
    key = next(e.key for e in services.blobs.list() if e.key.endswith(".jpg.avif"))
    services.blobs.delete([key])
    again = api.client.get(path, headers={"Accept": "image/avif"})
    assert again.status_code == 200
    assert again.headers["etag"] == first.headers["etag"]
    assert key in {e.key for e in services.blobs.list()}


@pytest.mark.embedded_only
def test_making_a_rendition_waits_for_the_decode_budget(api: Api, services: Services) -> None:
    """A first request past the decode budget's line is a 503 with
    Retry-After, like an upload; a stored rendition needs no slot."""
    from vitrina.usecases.decode_budget import DecodeBudget

    _, category = _uploaded(api)
    path = _path(category["imageUrl"])
    assert api.client.get(path, headers={"Accept": "image/webp"}).status_code == 200
    services.decode_budget = DecodeBudget(slots=1, queue=0)
    with services.decode_budget.slot():  # every slot busy, no room in line
        refused = api.client.get(path, headers={"Accept": "image/avif"})
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert "vary" not in refused.headers or refused.headers["vary"] == "Accept"
        stored = api.client.get(path, headers={"Accept": "image/webp"})
        assert stored.status_code == 200  # already made: served without decoding
    assert api.client.get(path, headers={"Accept": "image/avif"}).status_code == 200
