"""Test images, made here with Pillow and numpy, never downloaded."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

# Every EXIF orientation, for tests of full-size phone photos: 6 (how a phone
# held upright writes its photos) in the quick subset, the other seven with
# the slow tests (make test runs all eight).
EVERY_ORIENTATION = [
    pytest.param(o, marks=() if o == 6 else pytest.mark.slow, id=str(o)) for o in range(1, 9)
]


def gradient(width: int, height: int, alpha: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    channels = [x, y, np.full_like(x, 128)]
    if alpha:
        channels.append(np.where(x > 127, 255, 0).astype(np.float32))
    array = np.stack(channels, axis=2).astype(np.uint8)
    return Image.fromarray(array, "RGBA" if alpha else "RGB")


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(
    width: int = 640, height: int = 480, orientation: int | None = None, **options: Any
) -> bytes:
    image = gradient(width, height)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    return encode(image, "JPEG", quality=90, **options)


def marked_jpeg(orientation: int) -> bytes:
    """A 300x200 picture whose top-left corner is red, stored so that a viewer
    applying ``orientation`` shows it upright."""
    upright = Image.new("RGB", (300, 200), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 60, 60))
    # The inverse of what each orientation asks a viewer to do.
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright.transpose(inverse) if inverse is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def png(width: int = 320, height: int = 240, alpha: bool = False) -> bytes:
    return encode(gradient(width, height, alpha), "PNG")


def webp(width: int = 320, height: int = 240, alpha: bool = False) -> bytes:
    return encode(gradient(width, height, alpha), "WEBP", quality=90)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 80), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def transparent_gif() -> bytes:
    image = Image.new("P", (100, 100), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (25, 25, 75, 75))
    return encode(image, "GIF", transparency=0)


def vips_profiled(colour: tuple[int, int, int], profile: str, fmt: str = ".jpg") -> bytes:
    """A flat sRGB ``colour`` converted by LittleCMS (through libvips) into
    ``profile`` ("cmyk" or "p3"), with that profile embedded."""
    import pyvips

    flat = pyvips.Image.black(200, 100, bands=3).new_from_image(list(colour))
    flat = flat.copy(interpretation="srgb").cast("uchar")
    converted = flat.icc_transform(profile, input_profile="srgb", embedded=False)
    data: bytes = converted.write_to_buffer(fmt, Q=95)
    return data


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims enormous dimensions: the header of a pixel bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- Photos at real sizes ----------------------------------------------------
#
# A phone photo is 4032x3024 (or 3024x4032 shown), carries an EXIF orientation
# and a colour profile; small test images hide decoder access-pattern bugs.

PHONE = (3024, 4032)  # width and height as shown, portrait
MARK = 0.2  # the marker squares take a fifth of the shorter side
RED, BLUE, GREEN = (230, 20, 30), (20, 40, 220), (0, 200, 0)


def photo(width: int, height: int, seed: int = 1) -> Any:
    """An upright sRGB photo-like picture (smooth light, sensor noise; a JPEG
    of it is about as large as a camera's) with flat marker squares: red at the
    top left, blue at the bottom right, green at the top right."""
    import pyvips

    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    red = x * (200 / width) + 30
    green = y * (180 / height) + 40
    blue = ((x + y) * (360 / (width + height) * 3)).sin() * 60 + 128
    picture = red.bandjoin([green, blue])
    picture += pyvips.Image.gaussnoise(width, height, sigma=7, seed=seed)
    picture = picture.cast("uchar").copy(interpretation="srgb")
    side = max(1, int(min(width, height) * MARK))
    picture = picture.draw_rect(list(RED), 0, 0, side, side, fill=True)
    picture = picture.draw_rect(list(BLUE), width - side, height - side, side, side, fill=True)
    return picture.draw_rect(list(GREEN), width - side, 0, side, side, fill=True)


# What a viewer applying each orientation does to the stored picture, undone:
# the stored picture is the upright one turned the other way.
_STORE = {
    1: lambda im: im,
    2: lambda im: im.fliphor(),
    3: lambda im: im.rot180(),
    4: lambda im: im.flipver(),
    5: lambda im: im.rot90().fliphor(),  # transpose
    6: lambda im: im.rot270(),
    7: lambda im: im.rot270().fliphor(),  # transverse
    8: lambda im: im.rot90(),
}


def segment(marker: int, payload: bytes) -> bytes:
    import struct

    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def exif_block(orientation: int | None = None, private: bool = False) -> bytes:
    """An EXIF APP1 payload; ``private`` adds a camera make, a maker note and
    a GPS position."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if private:
        exif[0x010F] = "SecretCam"  # Make
        exif[0x0110] = "SecretModel"
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "E", 4: (0.0, 7.0, 40.0)}
        exif.get_ifd(0x8769)[0x927C] = b"SECRETMAKERNOTE"
    data: bytes = exif.tobytes()  # starts with Exif\0\0
    return data


def with_segments(jpeg_data: bytes, segments: list[bytes]) -> bytes:
    """``jpeg_data`` with ``segments`` (whole marker segments) right after SOI."""
    assert jpeg_data.startswith(b"\xff\xd8")
    return b"\xff\xd8" + b"".join(segments) + jpeg_data[2:]


def phone_jpeg(
    orientation: int = 6,
    profile: str | bytes | None = "p3",
    size: tuple[int, int] = PHONE,
    private: bool = False,
    **save: Any,
) -> bytes:
    """A photo shown ``size`` (width, height), stored turned for
    ``orientation`` with that EXIF tag, its pixels converted into ``profile``
    ("p3", "cmyk", ICC bytes, or None for plain sRGB) and the profile embedded."""
    import pyvips

    stored = _STORE[orientation](photo(*size))
    icc: bytes | None = None
    if profile is not None:
        target = profile
        if isinstance(profile, bytes):
            target = _profile_file(profile)
        stored = stored.icc_transform(target, input_profile="srgb", embedded=False)
        icc = stored.get("icc-profile-data") if stored.get_typeof("icc-profile-data") else None
    pixels = stored.jpegsave_buffer(Q=save.pop("Q", 90), keep=pyvips.enums.ForeignKeep.NONE, **save)
    segments = [segment(0xE1, exif_block(orientation, private))]
    if icc is not None:
        pieces = [icc[i : i + 65000] for i in range(0, len(icc), 65000)]
        for number, piece in enumerate(pieces, 1):
            head = b"ICC_PROFILE\x00" + bytes((number, len(pieces)))
            segments.append(segment(0xE2, head + piece))
    return with_segments(pixels, segments)


def _profile_file(data: bytes) -> str:
    import hashlib
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / f"vitrina-test-{hashlib.sha1(data).hexdigest()}.icc"  # noqa: S324 -- a file name
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def adobe_rgb_profile() -> bytes:
    """An ICC v2 matrix/TRC profile with Adobe RGB (1998) primaries and gamma
    (colorants adapted to D50), built here because no library ships one."""
    import struct

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + s15(x) + s15(y) + s15(z)

    text = b"Adobe RGB test\x00"
    desc = (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(text))
        + text
        + b"\x00" * 8  # no Unicode description
        + b"\x00\x00\x00"  # no ScriptCode description
        + b"\x00" * 67
    )
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 563) + b"\x00\x00"  # gamma 2.2
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.60974, 0.31111, 0.01947)),
        (b"gXYZ", xyz(0.20528, 0.62567, 0.06087)),
        (b"bXYZ", xyz(0.14919, 0.06322, 0.74457)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
        while len(data) % 4:
            data += b"\x00"
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"none"
        + b"\x02\x10\x00\x00"  # version 2.1
        + b"mntrRGB XYZ "
        + b"\x00" * 12  # date
        + b"acsp"
        + b"\x00" * 24  # platform, flags, manufacturer, model, attributes
        + b"\x00\x00\x00\x00"  # perceptual intent
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)  # illuminant
        + b"\x00" * 4  # creator
    )
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def pixels(data: bytes, upright: bool = True) -> Any:
    """The RGB(A) pixels of an encoded file as a numpy array, turned upright
    the way a viewer that applies EXIF orientation shows them."""
    from PIL import ImageOps

    image: Image.Image = Image.open(io.BytesIO(data))
    image.load()
    if upright:
        image = ImageOps.exif_transpose(image)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    return np.asarray(image.convert(mode)).astype(int)
