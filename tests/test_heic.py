"""HEIC and HEIF input (the ``vitrina[heic]`` extra, docs/images.md).

A real iPhone photo is the main case: stored turned, with the turn written
twice (the container's ``irot`` and EXIF orientation 6), in Display P3, as
a grid of tiles. Its variants and its original (a JPEG: browsers cannot show
HEIC) must show the arrow drawn on it pointing up, and be sRGB. Marker
photos made by pillow-heif's encoder cover every orientation and the colour
conversion with values that differ between P3 and sRGB.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests import sample_heic as heic
from tests import sample_images as images
from tests.conftest import Api
from tests.processes import vitrina_serve
from tests.test_photos import assert_upright
from vitrina.backends.imaging.vips import VipsProcessor
from vitrina.bootstrap import Services
from vitrina.domain.errors import ImageTooLarge, InvalidImage
from vitrina.domain.values import ProcessedImage
from vitrina.usecases.decode_budget import DecodeBudget

PROCESSOR = VipsProcessor()
SIZES = {"thumbnail": (300, 400), "hd": (600, 800), "image": (900, 1200)}


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Any]:
    made: list[ProcessedImage] = []

    def run(data: bytes) -> dict[str, Any]:
        source = tmp_path / f"upload-{len(made)}"
        source.write_bytes(data)
        processed = PROCESSOR.process(source, PROCESSOR.probe(source), 400, 1200, False)
        made.append(processed)
        return {f.role: f for f in processed.files}

    yield run
    for processed in made:
        for path in processed.temporary:
            path.unlink(missing_ok=True)


def _data(file: Any) -> bytes:
    data: bytes = file.data if isinstance(file.data, bytes) else file.data.read_bytes()
    return data


def assert_arrow_points_up(data: bytes, size: tuple[int, int]) -> None:
    """``data`` shows arrow.heic upright: portrait ``size``, and the ink's
    topmost point (the arrow's tip) at the top, in the middle. Turned by a
    quarter the picture would be landscape; by a half, the top ink would be
    the shaft's end, a quarter of the way down."""
    shown = images.pixels(data)
    assert (shown.shape[1], shown.shape[0]) == size
    height, width = shown.shape[:2]
    inset_y, inset_x = height // 30, width // 30  # past the paper's shadowed edges
    ink = shown[inset_y:-inset_y, inset_x:-inset_x, :3].mean(axis=2) < 90
    rows, columns = np.nonzero(ink)
    top = rows.min()
    assert (top + inset_y) / height < 0.15, (top + inset_y) / height
    tip = (columns[rows == top].mean() + inset_x) / width
    assert 0.4 < tip < 0.6, tip


def test_a_phone_heic_is_upright_in_every_file(process: Any) -> None:
    files = process(heic.real("arrow.heic"))
    original = files["original"]
    assert (original.ext, original.content_type) == ("jpg", "image/jpeg")
    assert (original.width, original.height) == heic.ARROW_SHOWN
    assert_arrow_points_up(_data(original), heic.ARROW_SHOWN)
    for role, size in SIZES.items():
        assert (files[role].width, files[role].height) == size
        assert files[role].ext == "jpg"
        assert_arrow_points_up(_data(files[role]), size)


def test_a_phone_heic_keeps_no_metadata(process: Any) -> None:
    """No EXIF (the iPhone's make, model, time), no profile: sRGB JPEGs."""
    files = process(heic.real("arrow.heic"))
    for file in files.values():
        shown = Image.open(io.BytesIO(_data(file)))
        assert shown.format == "JPEG"
        assert not shown.info.get("icc_profile") and not shown.getexif()
        assert b"iPhone" not in _data(file) and b"Apple" not in _data(file)


@pytest.mark.parametrize("orientation", images.EVERY_ORIENTATION)
def test_every_container_turn_is_applied_once(process: Any, orientation: int) -> None:
    """As phones write them: the turn as ``irot``/``imir`` and as EXIF."""
    files = process(heic.marker_heic(orientation))
    assert (files["original"].width, files["original"].height) == (1600, 1200)
    assert_upright(_data(files["original"]), (1600, 1200), tolerance=12)
    assert_upright(_data(files["image"]), (1200, 900), tolerance=12)
    assert_upright(_data(files["thumbnail"]), (400, 300), tolerance=12)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_exif_orientation_alone_is_applied(process: Any, orientation: int) -> None:
    """A file whose container has no transform: EXIF says how to turn it."""
    files = process(heic.without_container_turn(heic.marker_heic(orientation)))
    assert (files["original"].width, files["original"].height) == (1600, 1200)
    assert_upright(_data(files["original"]), (1600, 1200), tolerance=12)
    assert_upright(_data(files["hd"]), (800, 600), tolerance=12)


def test_display_p3_is_converted_to_srgb(process: Any) -> None:
    upload = heic.marker_heic(6, profile="p3")
    files = process(upload)
    for role, size in (("original", (1600, 1200)), ("image", (1200, 900))):
        # the green marker reads R near 0 in sRGB; its P3 values give R near 90
        assert_upright(_data(files[role]), size, tolerance=12)
        assert not Image.open(io.BytesIO(_data(files[role]))).info.get("icc_profile")


def test_ten_bit_nclx_display_p3_is_converted_to_srgb(process: Any) -> None:
    """No ICC profile: the colour is described by NCLX primaries (cameras'
    .HIF files, Android phones), and the pixels are 10-bit."""
    import pillow_heif

    upload = heic.ten_bit_p3_heic()
    stored = pillow_heif.open_heif(upload, convert_hdr_to_8bit=False)
    assert stored.info["bit_depth"] == 10 and not stored.info.get("icc_profile")
    assert stored.info["nclx_profile"]["color_primaries"] == 12
    assert np.asarray(stored)[100, -100][0] >> 8 > 60  # green in P3 values: the check can fail
    files = process(upload)
    assert_upright(_data(files["original"]), (1600, 1200), tolerance=12)
    assert_upright(_data(files["hd"]), (800, 600), tolerance=12)


def test_the_p3_values_differ_so_the_check_can_fail() -> None:
    import pillow_heif

    stored = np.asarray(pillow_heif.open_heif(heic.marker_heic(1, profile="p3")))
    assert stored[100, -100][0] > 60  # the green marker as stored, in P3


def test_the_primary_image_of_a_collection_is_taken(process: Any) -> None:
    import pillow_heif

    upload = heic.real("zPug_3.heic")
    container = pillow_heif.open_heif(upload)
    assert len(container) == 3 and container.primary_index == 1
    primary = np.asarray(container[1]).astype(int)  # grey
    first = np.asarray(container[0]).astype(int).mean(axis=2)  # colour
    assert primary.shape == first.shape == (64, 64)
    assert np.abs(primary - first).mean() > 10  # the check can tell them apart
    original = images.pixels(_data(process(upload)["original"]))
    assert original.shape == (64, 64, 3)
    assert np.abs(original[..., 0] - primary).mean() < 3


def test_ten_bit_colour_with_alpha_becomes_png(process: Any) -> None:
    import pillow_heif

    upload = heic.real("RGBA_10__29x100.heif")
    files = process(upload)
    assert {f.ext for f in files.values()} == {"png"}
    expected = np.asarray(pillow_heif.open_heif(upload, convert_hdr_to_8bit=True)).astype(int)
    got = images.pixels(_data(files["original"]))
    assert got.shape == expected.shape == (100, 29, 4)
    assert (got[..., 3] == expected[..., 3]).all() and got[..., 3].min() < 255
    shows = got[..., 3] > 0
    assert np.abs(got[shows][:, :3] - expected[shows][:, :3]).max() <= 2


def test_ten_bit_grey_is_scaled_not_clipped(process: Any) -> None:
    import pillow_heif

    upload = heic.real("L_10__29x100.heif")
    expected = np.asarray(pillow_heif.open_heif(upload)).astype(int) >> 8  # 16 bits as stored
    got = images.pixels(_data(process(upload)["original"]))
    assert got.shape[:2] == expected.shape == (100, 29)
    assert np.abs(got[..., 0] - expected).max() <= 3
    assert 40 < got.mean() < 215  # not all white, as a clipped cast would make it


def test_two_hundred_megapixels_are_refused_from_the_header(tmp_path: Path) -> None:
    """The pixels are still the phone's: a decode would fail on the size
    mismatch (422 INVALID_IMAGE), so IMAGE_TOO_LARGE shows the header was
    checked first."""
    source = tmp_path / "huge.heic"
    source.write_bytes(heic.with_size(heic.real("arrow.heic"), 16320, 12240))
    with pytest.raises(ImageTooLarge) as refused:
        PROCESSOR.probe(source)
    assert "12240x16320" in refused.value.message and "199.8 megapixels" in refused.value.message


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_a_truncated_phone_heic_is_refused_as_damaged(tmp_path: Path, cut: float) -> None:
    data = heic.real("arrow.heic")
    source = tmp_path / "cut.heic"
    source.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InvalidImage) as refused:
        PROCESSOR.process(source, PROCESSOR.probe(source), 400, 1200, False)
    assert "HEIC" in refused.value.message and str(tmp_path) not in refused.value.message


@pytest.mark.parametrize("size", [(65535, 65535), (1 << 20, 1 << 20)])
def test_absurd_header_sizes_are_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    source = tmp_path / "absurd.heic"
    source.write_bytes(heic.with_size(heic.real("zPug_3.heic"), *size))
    with pytest.raises((ImageTooLarge, InvalidImage)):
        PROCESSOR.probe(source)


# Through HTTP, on SQLite + local files and on PostgreSQL + S3


def _file(api: Api, url: str) -> bytes:
    response = api.client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    return response.content


def test_a_phone_heic_uploads_upright_and_srgb(api: Api) -> None:
    category_id = api.create()
    response = api.upload(category_id, heic.real("arrow.heic"))
    assert response.status_code == 200, response.text
    data = api.category(category_id)
    assert (data["originalImage"]["width"], data["originalImage"]["height"]) == heic.ARROW_SHOWN
    for field, size in (
        ("originalImageUrl", heic.ARROW_SHOWN),
        ("imageUrl", SIZES["image"]),
        ("thumbnailUrl", SIZES["thumbnail"]),
    ):
        assert data[field].endswith(".jpg")
        body = _file(api, data[field])
        assert Image.open(io.BytesIO(body)).format == "JPEG"
        assert_arrow_points_up(body, size)
    p3 = api.create()
    assert api.upload(p3, heic.marker_heic(8, profile="p3")).status_code == 200
    assert_upright(_file(api, api.category(p3)["hdThumbnailUrl"]), (800, 600), tolerance=12)


def test_a_huge_or_damaged_heic_is_a_clear_422(api: Api) -> None:
    category_id = api.create()
    huge = api.upload(category_id, heic.with_size(heic.real("arrow.heic"), 16320, 12240))
    assert huge.status_code == 422 and huge.json()["errorCode"] == "IMAGE_TOO_LARGE"
    assert "12240x16320" in huge.json()["errorMessage"]
    cut = api.upload(category_id, heic.real("arrow.heic")[:400_000])
    assert cut.status_code == 422 and cut.json()["errorCode"] == "INVALID_IMAGE"
    assert "HEIC" in cut.json()["errorMessage"]
    assert "thumbnailUrl" not in api.category(category_id)


@pytest.mark.slow
def test_without_the_extra_a_heic_is_a_415_naming_it(tmp_path: Path) -> None:
    """A real server on a Python where pillow-heif cannot be imported, as
    after ``pip install 'vitrina[server]'`` alone; other images still work."""
    blocked = tmp_path / "without-heic" / "pillow_heif"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('No module named pillow_heif')\n")
    path = os.pathsep.join([str(blocked.parent), *sys.path])
    with vitrina_serve(tmp_path / "data", env={"PYTHONPATH": path}) as server:
        headers = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.base + "/api/v3/1", headers=headers) as client:
            category_id = client.post("/categories", json={"name": "Phones"}).json()["id"]
            refused = client.post(
                f"/categories/{category_id}/image", content=heic.real("arrow.heic"), timeout=30
            )
            assert refused.status_code == 415, refused.text
            assert refused.json()["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
            assert "pip install 'vitrina[heic]'" in refused.json()["errorMessage"]
            jpeg = client.post(
                f"/categories/{category_id}/image", content=images.jpeg(800, 600), timeout=30
            )
            assert jpeg.status_code == 200, jpeg.text


@pytest.mark.embedded_only
def test_a_heic_decode_waits_for_the_decode_budget(api: Api, services: Services) -> None:
    """The decode takes a slot like any other; refusing a huge one from its
    header needs none."""
    services.decode_budget = DecodeBudget(slots=1, queue=0)
    category_id = api.create()
    with services.decode_budget.slot():  # a decode in progress
        busy = api.upload(category_id, heic.real("arrow.heic"))
        huge = api.upload(category_id, heic.with_size(heic.real("arrow.heic"), 16320, 12240))
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
    assert huge.status_code == 422 and huge.json()["errorCode"] == "IMAGE_TOO_LARGE"
    assert api.upload(category_id, heic.real("arrow.heic")).status_code == 200
