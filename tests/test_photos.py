"""The image pipeline on the pictures people actually send, at real sizes.

Each case checks pixels: the original keeps the uploaded pixels bit for bit
where it is not encoded again; every file shows upright in a viewer that
applies EXIF orientation (Pillow's ``exif_transpose``); colour profiles are
applied to the variants; no private metadata survives.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvips
from PIL import Image

from tests import sample_images as images
from vitrina.backends.imaging.vips import VipsProcessor
from vitrina.domain.errors import ImageTooLarge
from vitrina.domain.values import EncodedFile, ProcessedImage

PROCESSOR = VipsProcessor()


class Result:
    def __init__(self, processed: ProcessedImage) -> None:
        self.processed = processed
        self.files = {f.role: f for f in processed.files}
        self.data = {f.role: _bytes(f) for f in processed.files}

    def __getitem__(self, role: str) -> EncodedFile:
        return self.files[role]


def _bytes(file: EncodedFile) -> bytes:
    return file.data.read_bytes() if isinstance(file.data, Path) else file.data


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Any]:
    made: list[ProcessedImage] = []

    def run(data: bytes, **options: Any) -> Result:
        source = tmp_path / f"upload-{len(made)}"
        source.write_bytes(data)
        header = PROCESSOR.probe(source)
        processed = PROCESSOR.process(
            source, header, 400, 1200, keep_original=options.get("keep_original", False)
        )
        made.append(processed)
        return Result(processed)

    yield run
    for processed in made:
        for path in processed.temporary:
            path.unlink(missing_ok=True)


def _near(pixel: Any, colour: tuple[int, ...], tolerance: int) -> bool:
    return bool(np.abs(np.asarray(pixel[:3]) - np.asarray(colour)).max() <= tolerance)


def assert_upright(
    data: bytes,
    size: tuple[int, int],
    tolerance: int = 30,
    colours: tuple[tuple[int, ...], ...] = (images.RED, images.BLUE, images.GREEN),
) -> None:
    """Shown with EXIF orientation applied: ``size``, red marker top left,
    blue bottom right, green top right (sRGB values)."""
    shown = images.pixels(data)
    assert (shown.shape[1], shown.shape[0]) == size
    inset_x, inset_y = max(1, size[0] // 20), max(1, size[1] // 20)
    red, blue, green = colours
    assert _near(shown[inset_y, inset_x], red, tolerance), shown[inset_y, inset_x]
    assert _near(shown[-inset_y, -inset_x], blue, tolerance), shown[-inset_y, -inset_x]
    assert _near(shown[inset_y, -inset_x], green, tolerance), shown[inset_y, -inset_x]


def _through_cmyk(colour: tuple[int, int, int]) -> tuple[int, ...]:
    """``colour`` after a trip through the CMYK gamut and back."""
    pixel = pyvips.Image.black(1, 1, bands=3).new_from_image(list(colour)).cast("uchar")
    pixel = pixel.copy(interpretation="srgb").icc_transform("cmyk", input_profile="srgb")
    back = pixel.icc_transform("srgb", input_profile="cmyk", intent="perceptual")
    return tuple(int(v) for v in back(0, 0))


VARIANTS = {"thumbnail": (300, 400), "hd": (600, 800), "image": (900, 1200)}


@pytest.mark.parametrize("orientation", images.EVERY_ORIENTATION)
def test_phone_photos_in_every_orientation(process: Any, orientation: int) -> None:
    upload = images.phone_jpeg(orientation, profile="p3")
    result = process(upload)
    original = result["original"]
    assert (original.width, original.height) == images.PHONE
    assert original.ext == "jpg"
    # not encoded again: the same compressed pixels, the orientation tag and the profile
    assert np.array_equal(
        images.pixels(result.data["original"], upright=False), images.pixels(upload, upright=False)
    )
    kept = Image.open(io.BytesIO(result.data["original"]))
    assert kept.getexif().get(0x0112, 1) == orientation
    assert kept.info.get("icc_profile")
    assert_upright(result.data["original"], images.PHONE, tolerance=100)  # P3 values, unmanaged
    for role, size in VARIANTS.items():
        assert (result[role].width, result[role].height) == size
        # the variants are upright sRGB with the profile applied: the green
        # marker reads R near 0 (unmanaged, the P3 values give R near 90)
        assert_upright(result.data[role], size, tolerance=12)
        assert "icc_profile" not in Image.open(io.BytesIO(result.data[role])).info


def test_the_p3_values_differ_from_srgb_so_the_check_can_fail() -> None:
    raw = images.pixels(images.phone_jpeg(1, profile="p3"), upright=False)
    assert raw[100, -100][0] > 60  # the green marker as stored in P3


@pytest.mark.parametrize("profile", ["adobe", "p3"])
def test_wide_gamut_profiles_are_applied_to_the_variants(process: Any, profile: str) -> None:
    icc = images.adobe_rgb_profile() if profile == "adobe" else "p3"
    result = process(images.phone_jpeg(1, profile=icc, size=(2000, 1500)))
    assert_upright(result.data["image"], (1200, 900), tolerance=12)
    assert images.pixels(result.data["original"])[50, -50][0] > 40  # kept, profile and all


SECRETS = [
    b"SecretCam",
    b"SecretModel",
    b"SECRETMAKERNOTE",
    b"JFXX-SECRET",
    b"APP0-SECRET",
    b"XMP-SECRET",
    b"MPF-SECRET",
    b"IPTC-SECRET",
    b"ADOBE-TAIL-SECRET",
    b"COMMENT-SECRET",
    b"TRAILER-SECRET",
]


def private_jpeg(orientation: int = 6, profile: str | None = "p3") -> bytes:
    """A phone photo carrying private data in every kind of segment."""
    photo = images.phone_jpeg(orientation, profile=profile, private=True)
    extra = [
        images.segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x02\x01" + b"\x80" * 6),
        images.segment(0xE0, b"JFXX\x00\x10JFXX-SECRET thumbnail"),
        images.segment(0xE0, b"APP0-SECRET"),
        images.segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x>XMP-SECRET</x>"),
        images.segment(0xE2, b"MPF\x00MM\x00*MPF-SECRET"),
        images.segment(0xED, b"Photoshop 3.0\x008BIM IPTC-SECRET"),
        images.segment(0xEE, b"Adobe\x00\x64\x80\x00\x00\x00\x01ADOBE-TAIL-SECRET"),
        images.segment(0xFE, b"COMMENT-SECRET"),
    ]
    return images.with_segments(photo, extra) + b"TRAILER-SECRET"


@pytest.mark.parametrize("keep", ["stripped", "re-encoded"])
def test_no_private_metadata_survives_in_any_file(process: Any, keep: str) -> None:
    upload = private_jpeg(orientation=6 if keep == "stripped" else 1)
    if keep == "re-encoded":  # CMYK is encoded again: the same must hold
        upload = images.with_segments(
            images.phone_jpeg(1, profile="cmyk", size=(1600, 1200), private=True),
            [
                images.segment(0xE0, b"JFXX\x00\x10JFXX-SECRET"),
                images.segment(0xFE, b"COMMENT-SECRET"),
            ],
        )
    for secret in SECRETS[:3]:
        assert secret in upload
    result = process(upload)
    for role, data in result.data.items():
        for secret in SECRETS:
            assert secret not in data, (role, secret)
        exif = Image.open(io.BytesIO(data)).getexif()
        assert set(exif) <= {0x0112}, (role, dict(exif))  # at most the orientation
        assert not exif.get_ifd(0x8825) and not exif.get_ifd(0x8769)
    if keep == "stripped":
        original = result.data["original"]
        assert b"Adobe\x00\x64\x80\x00\x00\x00\x01" in original  # the 12 bytes, no tail
        assert b"JFIF\x00" in original
        assert_upright(result.data["image"], (900, 1200), tolerance=12)


@pytest.mark.parametrize("with_profile", [True, False])
def test_cmyk_is_encoded_again_as_upright_srgb(process: Any, with_profile: bool) -> None:
    upload = images.phone_jpeg(8, profile="cmyk", size=(2400, 1600))
    if not with_profile:
        upload = images.with_segments(
            pyvips.Image.new_from_buffer(upload, "").jpegsave_buffer(keep=0),
            [images.segment(0xE1, images.exif_block(8))],
        )
    result = process(upload)
    original = Image.open(io.BytesIO(result.data["original"]))
    assert original.mode == "RGB" and original.size == (2400, 1600)
    assert not original.getexif() and "icc_profile" not in original.info
    colours = tuple(_through_cmyk(c) for c in (images.RED, images.BLUE, images.GREEN))
    for role, size in {"original": (2400, 1600), "image": (1200, 800)}.items():
        assert_upright(result.data[role], size, tolerance=12, colours=colours)


@pytest.mark.parametrize(
    "options", [{"progressive": True}, {"restart_marker_blocks": 4}], ids=["progressive", "restart"]
)
def test_jpeg_codings_keep_their_pixels(process: Any, options: dict[str, Any]) -> None:
    picture = images.encode(images.gradient(3000, 2000), "JPEG", quality=88, **options)
    result = process(picture)
    assert np.array_equal(images.pixels(result.data["original"]), images.pixels(picture))
    assert images.pixels(result.data["image"]).shape == (800, 1200, 3)


def test_greyscale_jpeg(process: Any) -> None:
    picture = images.encode(images.gradient(2000, 1500).convert("L"), "JPEG", quality=90)
    result = process(picture)
    assert np.array_equal(images.pixels(result.data["original"]), images.pixels(picture))
    image = images.pixels(result.data["image"])
    assert image.shape[:2] == (900, 1200)
    assert np.abs(image[:, :, 0] - image[:, :, 2]).max() <= 2  # still grey


def test_sixteen_bit_png(process: Any) -> None:
    ramp = (np.linspace(0, 65535, 1600)[None, :].repeat(1200, 0)).astype(">u2")
    picture = images.encode(Image.frombytes("I;16B", (1600, 1200), ramp.tobytes()), "PNG")
    result = process(picture)
    assert result.data["original"] == picture  # nothing to strip: the very bytes
    image = images.pixels(result.data["image"])
    assert image.shape[:2] == (900, 1200)
    assert abs(image[450, 600, 0] - 128) <= 3  # the middle of the ramp, 8 bits deep


def test_sixteen_bit_png_with_a_profile_is_scaled_not_clipped(process: Any) -> None:
    """A 16-bit Display P3 PNG: the profile is applied and the values scaled
    to 8 bits (a transform that stayed at 16 bits, then cast, would clip
    nearly every value to 255)."""
    stored = images.photo(1600, 1200).rot270()  # shown turned back by orientation 6
    p3 = stored.icc_transform("p3", input_profile="srgb", depth=16).copy()
    p3.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = p3.pngsave_buffer(compression=1, keep=pyvips.enums.ForeignKeep.ALL)
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112) == 6
    result = process(data)  # encoded again in full: browsers ignore a PNG's orientation
    assert_upright(result.data["original"], (1600, 1200), tolerance=12)
    assert_upright(result.data["image"], (1200, 900), tolerance=12)


def test_palette_png_with_transparency(process: Any) -> None:
    picture = Image.new("P", (1600, 1000), 0)
    picture.putpalette([0, 0, 0, 250, 30, 30] + [0] * 762)
    picture.paste(1, (400, 250, 1200, 750))
    text = Image.new("P", (1, 1)).info
    assert text == {}
    data = images.encode(picture, "PNG", transparency=0, pnginfo=_png_text("Author", "SECRET-PNG"))
    result = process(data)
    assert b"SECRET-PNG" not in result.data["original"] and b"tRNS" in result.data["original"]
    assert np.array_equal(images.pixels(result.data["original"]), images.pixels(data))
    thumb = images.pixels(result.data["thumbnail"])
    assert thumb.shape == (250, 400, 4)
    assert thumb[5, 5, 3] == 0 and tuple(thumb[125, 200]) == (250, 30, 30, 255)


def _png_text(key: str, value: str) -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    info.add_itxt("XML:com.adobe.xmp", "<x>XMP-PNG-SECRET</x>")
    return info


def test_png_with_an_exif_orientation_is_made_upright(process: Any) -> None:
    stored = images.photo(1200, 900).rot270()  # shown turned back by orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"
    data = stored.pngsave_buffer(keep=0)
    tagged = images.encode(Image.open(io.BytesIO(data)), "PNG", exif=exif.tobytes())
    result = process(tagged)
    assert result["original"].ext == "png"
    assert b"SecretCam" not in result.data["original"]
    for role, size in {"original": (1200, 900), "thumbnail": (400, 300)}.items():
        assert_upright(result.data[role], size, tolerance=4)  # PNG: lossless


@pytest.mark.parametrize("kind", ["lossy", "lossless", "alpha"])
def test_webp_originals_keep_their_pixels(process: Any, kind: str) -> None:
    picture = images.gradient(2000, 1500, alpha=kind == "alpha")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    data = images.encode(
        picture, "WEBP", quality=85, lossless=kind == "lossless", exif=exif.tobytes(),
        xmp=b"<x>XMP-SECRET</x>",
    )  # fmt: skip
    assert b"SecretCam" in data and b"XMP-SECRET" in data
    result = process(data)
    original = result.data["original"]
    assert b"SecretCam" not in original and b"XMP-SECRET" not in original
    assert np.array_equal(images.pixels(original), images.pixels(data))
    assert result["image"].ext == "webp"
    image = images.pixels(result.data["image"])
    assert image.shape == (900, 1200, 4 if kind == "alpha" else 3)
    if kind == "alpha":
        assert image[450, 10, 3] == 0 and image[450, -10, 3] == 255


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_keep_every_frame_in_the_original(process: Any, fmt: str) -> None:
    colours = ((250, 0, 0), (0, 250, 0), (0, 0, 250))
    frames = [Image.new("RGB", (1000, 800), c) for c in colours]
    data = images.encode(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0,
        comment=b"COMMENT-SECRET" if fmt == "GIF" else None,
    ) if fmt == "GIF" else images.encode(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0
    )  # fmt: skip
    result = process(data)
    original = Image.open(io.BytesIO(result.data["original"]))
    assert original.format == fmt and getattr(original, "n_frames", 1) == 3
    assert b"COMMENT-SECRET" not in result.data["original"]
    thumb = images.pixels(result.data["thumbnail"])
    assert thumb.shape[:2] == (320, 400)
    assert _near(thumb[160, 200], colours[0], 8)  # the first frame


@pytest.mark.parametrize("alpha", [False, True])
def test_avif_is_encoded_again(process: Any, alpha: bool) -> None:
    data = images.encode(images.gradient(1600, 1200, alpha=alpha), "AVIF", quality=80)
    result = process(data)
    assert result["original"].ext == ("png" if alpha else "jpg")
    assert (result["original"].width, result["original"].height) == (1600, 1200)
    assert images.pixels(result.data["image"]).shape == (900, 1200, 4 if alpha else 3)


def test_a_panorama_fits_by_its_width(process: Any) -> None:
    data = images.encode(images.gradient(12000, 1000), "JPEG", quality=85)
    result = process(data)
    sizes = {role: (result[role].width, result[role].height) for role in result.files}
    assert sizes == {
        "original": (12000, 1000),
        "image": (1200, 100),
        "hd": (800, 67),
        "thumbnail": (400, 33),
    }
    for role, (width, height) in sizes.items():
        assert images.pixels(result.data[role]).shape[:2] == (height, width)


def test_a_tiny_image_is_never_scaled_up(process: Any) -> None:
    data = images.encode(images.gradient(10, 10), "PNG")
    result = process(data)
    for role in ("original", "thumbnail", "hd", "image"):
        assert images.pixels(result.data[role]).shape[:2] == (10, 10)


def test_fifty_megapixels_exactly_is_accepted_and_one_row_more_refused(
    process: Any, tmp_path: Path
) -> None:
    import pyvips

    flat = pyvips.Image.black(10000, 5000, bands=3).new_from_image([90, 140, 200]).cast("uchar")
    data = flat.copy(interpretation="srgb").jpegsave_buffer(Q=80)
    result = process(data)
    assert (result["original"].width, result["original"].height) == (10000, 5000)
    assert _near(images.pixels(result.data["image"])[300, 600], (90, 140, 200), 3)
    bigger = tmp_path / "bigger.png"
    bigger.write_bytes(images.png_header_only(10000, 5001))
    with pytest.raises(ImageTooLarge):
        PROCESSOR.probe(bigger)
