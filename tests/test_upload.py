"""Uploading a category image as the request body."""

from __future__ import annotations

import io
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests import sample_images as images
from tests.conftest import Api
from tests.live import live_vitrina
from vitrina.bootstrap import Services
from vitrina.domain.errors import CategoryNotFound
from vitrina.domain.tree import CategoryTree
from vitrina.usecases import category_images as image_cases


def fetch(api: Api, url: str) -> bytes:
    path = url.removeprefix("http://testserver")
    response = api.client.get(path)
    assert response.status_code == 200, (url, response.text)
    content: bytes = response.content
    return content


def image_of(api: Api, category_id: int, field: str = "originalImageUrl") -> Image.Image:
    return images.decode(fetch(api, api.category(category_id)[field]))


def test_upload_gives_the_thumbnail_id_and_every_image_field(api: Api) -> None:
    category_id = api.create(name="Photo")
    response = api.upload(
        category_id, images.jpeg(4000, 3000), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    image_id = response.json()["id"]
    data = api.category(category_id)
    assert data["thumbnailUrl"].endswith(f"/images/{api.store_id}/{image_id}.jpg")
    assert data["thumbnail"] == {"url": data["thumbnailUrl"], "width": 400, "height": 300}
    assert data["originalImage"] == {"url": data["originalImageUrl"], "width": 4000, "height": 3000}
    expected = {
        "thumbnailUrl": (400, 300),
        "hdThumbnailUrl": (800, 600),
        "imageUrl": (1200, 900),
        "originalImageUrl": (4000, 3000),
    }
    ids = []
    for field, size in expected.items():
        url = data[field]
        assert url.startswith("http://testserver/images/")
        decoded = images.decode(fetch(api, url))
        assert decoded.format == "JPEG"
        assert decoded.size == size, field
        ids.append(int(url.rsplit("/", 1)[1].split(".")[0]))
    original, thumbnail, hd, large = ids[3], ids[0], ids[1], ids[2]
    assert [original, thumbnail, hd, large] == list(range(original, original + 4))
    assert data["borderInfo"]["homogeneity"] in (True, False)


def test_small_images_are_never_scaled_up(api: Api) -> None:
    category_id = api.create()
    assert api.upload(category_id, images.png(300, 120)).status_code == 200
    data = api.category(category_id)
    assert data["thumbnail"]["width"] == 300
    for field in ("thumbnailUrl", "hdThumbnailUrl", "imageUrl", "originalImageUrl"):
        assert images.decode(fetch(api, data[field])).size == (300, 120)


def test_tall_images_fit_by_height(api: Api) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(1000, 3000))
    data = api.category(category_id)
    assert data["thumbnail"]["width"] in (133, 134)
    assert data["thumbnail"]["height"] == 400
    assert images.decode(fetch(api, data["imageUrl"])).size == (400, 1200)
    assert max(images.decode(fetch(api, data["thumbnailUrl"])).size) == 400


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "image/jpeg;",
        "application/octet-stream; charset=UTF-8",
        "application/json",
        "text/plain",
    ],
)
def test_the_bytes_decide_the_format_not_the_header(api: Api, content_type: str | None) -> None:
    category_id = api.create()
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.upload(category_id, images.png(64, 64), headers=headers)
    assert response.status_code == 200, response.text
    assert api.category(category_id)["thumbnailUrl"].endswith(".png")


def test_chunked_body_without_content_length(api: Api) -> None:
    category_id = api.create()
    data = images.jpeg(800, 600)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    response = api.upload(category_id, chunks())
    assert response.status_code == 200, response.text
    assert image_of(api, category_id).size == (800, 600)


@pytest.mark.parametrize(
    ("make", "fmt", "ext", "original"),
    [
        (lambda: images.png(200, 100, alpha=True), "PNG", "png", "png"),
        (lambda: images.webp(200, 100), "WEBP", "webp", "webp"),
        (lambda: images.webp(200, 100, alpha=True), "WEBP", "webp", "webp"),
        (images.animated_gif, "JPEG", "jpg", "gif"),
        (images.transparent_gif, "PNG", "png", "gif"),
    ],
)
def test_formats(api: Api, make: Any, fmt: str, ext: str, original: str) -> None:
    """Variants keep JPEG, PNG and WebP; a GIF's become PNG with transparency,
    JPEG without. Originals browsers show keep their format."""
    category_id = api.create()
    assert api.upload(category_id, make()).status_code == 200
    data = api.category(category_id)
    assert data["thumbnailUrl"].endswith("." + ext)
    assert images.decode(fetch(api, data["thumbnailUrl"])).format == fmt
    assert data["originalImageUrl"].endswith("." + original)
    assert images.decode(fetch(api, data["originalImageUrl"])).format == original.upper()


@pytest.mark.parametrize(("alpha", "fmt", "ext"), [(True, "PNG", "png"), (False, "JPEG", "jpg")])
def test_avif_becomes_png_with_transparency_and_jpeg_without(
    api: Api, alpha: bool, fmt: str, ext: str
) -> None:
    category_id = api.create()
    body = images.encode(images.gradient(300, 200, alpha=alpha), "AVIF", quality=80)
    assert api.upload(category_id, body).status_code == 200
    data = api.category(category_id)
    assert data["originalImage"]["width"] == 300
    for field in ("thumbnailUrl", "originalImageUrl"):
        assert data[field].endswith("." + ext)
        assert images.decode(fetch(api, data[field])).format == fmt


def test_unreadable_heic_says_so(api: Api) -> None:
    body = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200
    message = _rejected(api.upload(api.create(), body), 422, "INVALID_IMAGE")
    assert "HEIC" in message


def test_transparency_is_kept_never_black(api: Api) -> None:
    category_id = api.create()
    api.upload(category_id, images.png(200, 100, alpha=True))
    for field in ("thumbnailUrl", "originalImageUrl"):
        pixels = np.asarray(image_of(api, category_id, field).convert("RGBA"))
        assert pixels[50, 10, 3] == 0  # the left half is transparent
        assert pixels[50, -10, 3] == 255
    gif_category = api.create()
    api.upload(gif_category, images.transparent_gif())
    pixels = np.asarray(image_of(api, gif_category).convert("RGBA"))
    assert pixels[5, 5, 3] == 0
    assert tuple(pixels[50, 50]) == (255, 0, 0, 255)


def test_animated_gif_uses_its_first_frame(api: Api) -> None:
    category_id = api.create()
    api.upload(category_id, images.animated_gif())
    red, green, blue = np.asarray(image_of(api, category_id, "thumbnailUrl").convert("RGB"))[40, 60]
    assert red > 240 and green < 20 and blue < 20


@pytest.mark.parametrize("orientation", images.EVERY_ORIENTATION)
def test_phone_photos_show_upright_in_every_file(api: Api, orientation: int) -> None:
    """A 3024x4032 phone photo, stored turned with an EXIF orientation and a
    Display P3 profile: every served file shows upright in a viewer that
    applies EXIF orientation, and the variants are colour-managed."""
    category_id = api.create()
    response = api.upload(category_id, images.phone_jpeg(orientation, profile="p3"))
    assert response.status_code == 200, response.text
    data = api.category(category_id)
    assert (data["originalImage"]["width"], data["originalImage"]["height"]) == images.PHONE
    assert (data["thumbnail"]["width"], data["thumbnail"]["height"]) == (300, 400)
    sizes = {
        "originalImageUrl": images.PHONE,
        "imageUrl": (900, 1200),
        "hdThumbnailUrl": (600, 800),
        "thumbnailUrl": (300, 400),
    }
    for field, (width, height) in sizes.items():
        shown = images.pixels(fetch(api, data[field]))
        assert shown.shape[:2] == (height, width), field
        top_left, bottom_right = (
            shown[height // 20, width // 20],
            shown[-height // 20, -width // 20],
        )
        assert top_left[0] > 180 and top_left[2] < 80, (field, top_left)
        assert bottom_right[2] > 180 and bottom_right[0] < 80, (field, bottom_right)
        if field != "originalImageUrl":  # the original keeps the profile; browsers apply it
            assert shown[height // 20, -width // 20][0] < 15, field  # P3 green, managed


def test_metadata_is_stripped_from_every_file(api: Api) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS latitude
    data = images.encode(
        images.gradient(1600, 1200), "JPEG", exif=exif.tobytes(), comment=b"private"
    )
    category_id = api.create()
    api.upload(category_id, data)
    fields = api.category(category_id)
    for field in ("thumbnailUrl", "hdThumbnailUrl", "imageUrl", "originalImageUrl"):
        served = fetch(api, fields[field])
        assert b"SecretCam" not in served and b"Exif" not in served and b"private" not in served
        assert "exif" not in images.decode(served).info


def test_cmyk_with_a_profile_becomes_srgb_with_colour_management(api: Api) -> None:
    category_id = api.create()
    assert api.upload(category_id, images.vips_profiled((200, 30, 40), "cmyk")).status_code == 200
    picture = image_of(api, category_id)
    assert picture.mode == "RGB"
    red, green, blue = np.asarray(picture)[50, 100].astype(int)
    assert abs(red - 200) < 25 and abs(green - 30) < 25 and abs(blue - 40) < 25


def test_wide_gamut_profiles_are_converted_to_srgb(api: Api) -> None:
    category_id = api.create()
    assert api.upload(category_id, images.vips_profiled((200, 30, 40), "p3")).status_code == 200
    picture = image_of(api, category_id, "imageUrl")
    assert "icc_profile" not in picture.info
    red, green, blue = np.asarray(picture)[50, 100].astype(int)
    assert abs(red - 200) <= 6 and abs(green - 30) <= 6 and abs(blue - 40) <= 6  # not 184,50,47
    assert "icc_profile" in image_of(api, category_id).info  # the original keeps its profile


def test_border_info(api: Api) -> None:
    framed = Image.new("RGB", (500, 500), (250, 250, 250))
    framed.paste((10, 120, 200), (100, 100, 400, 400))
    category_id = api.create()
    api.upload(category_id, images.encode(framed, "PNG"))
    border = api.category(category_id)["borderInfo"]
    assert border == {
        "dominatingColor": {"red": 250, "green": 250, "blue": 250, "alpha": 255},
        "homogeneity": True,
    }
    noisy = Image.fromarray(
        np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    )
    other = api.create()
    api.upload(other, images.encode(noisy, "PNG"))
    assert api.category(other)["borderInfo"]["homogeneity"] is False


def _rejected(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["errorCode"] == code
    message: str = response.json()["errorMessage"]
    return message


def test_empty_body_is_400(api: Api) -> None:
    _rejected(api.upload(api.create(), b""), 400, "WRONG_PARAMETER")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"just some words", "plain text"),
        (b'{"image": "no"}', "JSON"),
        (b"%PDF-1.7\n", "PDF"),
        (b"\x00\x01\x02\x03" * 10, "binary data"),
    ],
)
def test_non_images_are_422_saying_what_they_look_like(api: Api, body: bytes, words: str) -> None:
    message = _rejected(api.upload(api.create(), body), 422, "INVALID_IMAGE")
    assert message.startswith("The uploaded file is not an image")
    assert words in message


def test_zip_disguised_as_an_image(api: Api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", images.jpeg(10, 10))
    message = _rejected(
        api.upload(api.create(), buffer.getvalue(), headers={"Content-Type": "image/jpeg"}),
        422,
        "INVALID_IMAGE",
    )
    assert "ZIP" in message


@pytest.mark.parametrize("make", [lambda: images.jpeg(800, 600), lambda: images.png(300, 300)])
def test_truncated_images_are_422(api: Api, make: Any) -> None:
    data = make()
    category_id = api.create()
    _rejected(api.upload(category_id, data[: len(data) // 2]), 422, "INVALID_IMAGE")
    assert "thumbnailUrl" not in api.category(category_id)


def test_corrupt_header_is_422(api: Api) -> None:
    data = bytearray(images.png(100, 100))
    data[16:24] = b"\xff" * 8  # width and height nonsense
    _rejected(api.upload(api.create(), bytes(data)), 422, "INVALID_IMAGE")


def test_pixel_budget_is_checked_from_the_header(api: Api) -> None:
    message = _rejected(
        api.upload(api.create(), images.png_header_only(100_000, 100_000)), 422, "IMAGE_TOO_LARGE"
    )
    assert "100000x100000" in message and "50 megapixels" in message


def test_size_limit_exactly_and_one_byte_over(api: Api) -> None:
    limit = 20 * 1024 * 1024
    base = images.jpeg(64, 64)
    padded = base + b"\0" * (limit - len(base))  # trailing bytes after the image are ignored
    assert len(padded) == limit
    category_id = api.create()
    response = api.upload(category_id, padded)
    assert response.status_code == 200, response.text
    message = _rejected(api.upload(category_id, padded + b"\0"), 413, "INCORRECT_IMAGE_SIZE")
    assert str(limit) in message


@pytest.mark.embedded_only
def test_oversized_chunked_body_is_cut_off(tmp_path: Path) -> None:
    """A chunked body (no Content-Length) offering 100 MiB, sent over a real
    socket: the server answers 413 once 20 MiB have come, and stops reading,
    so the client can send only what the connection's buffers still take."""
    with live_vitrina(tmp_path / "data") as live:
        category = httpx.post(
            f"{live.api}/{live.store}/categories",
            json={"name": "Big"},
            headers={"Authorization": f"Bearer {live.token}"},
        ).json()["id"]
        host, port = live.base.removeprefix("http://").split(":")
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"\0" * (1 << 20))
        sent = 0
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(
                f"POST /api/v3/{live.store}/categories/{category}/image HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {live.token}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            try:
                for _ in range(100):  # 100 MiB offered
                    conn.sendall(chunk)
                    sent += 1
            except OSError:
                pass  # the server closed the connection: the point
            answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"INCORRECT_IMAGE_SIZE" in answer
    # 20 MiB read, and what the socket buffers took before the close was seen
    assert 20 <= sent < 60, f"{sent} MiB were sent"


def test_missing_category_is_404(api: Api) -> None:
    _rejected(api.upload(9999, images.png(10, 10)), 404, "CATEGORY_NOT_FOUND")


def test_keep_original_serves_the_bytes_as_uploaded(api: Api, services: Any) -> None:
    services.settings = services.settings.replace(keep_original=True)
    data = images.jpeg(900, 600, orientation=6)
    category_id = api.create()
    api.upload(category_id, data)
    fields = api.category(category_id)
    assert fetch(api, fields["originalImageUrl"]) == data
    assert fields["originalImage"]["width"] == 600  # still reported after orientation
    assert images.decode(fetch(api, fields["thumbnailUrl"])).size == (267, 400)


def test_the_existence_check_reads_a_given_category_tree_and_the_commit_checks_again(
    api: Api, services: Services, tmp_path: Path
) -> None:
    """With the web layer's cached tree the check makes no query: a category
    deleted after the tree was read passes it, and the commit refuses it."""
    category_id = api.create()
    tree = CategoryTree(services.metadata.catalog.list_categories(api.store_id))
    image_cases.check_category(services, api.store_id, category_id, tree)
    image_cases.check_category(services, api.store_id, category_id)
    for known in (tree, None):
        with pytest.raises(CategoryNotFound):
            image_cases.check_category(services, api.store_id, 9999, known)
    assert api.delete(f"/categories/{category_id}").status_code == 200
    image_cases.check_category(services, api.store_id, category_id, tree)  # the tree's word
    with pytest.raises(CategoryNotFound):
        image_cases.check_category(services, api.store_id, category_id)
    source = tmp_path / "upload.jpg"
    source.write_bytes(images.phone_jpeg())
    store = services.metadata.stores.get_store(api.store_id)
    assert store is not None
    with pytest.raises(CategoryNotFound):
        image_cases.upload(services, store, category_id, source)
    assert list(services.blobs.list()) == []  # what was stored for it is gone
