"""Every accepted upload stores an original that decodes, checked with an
independent decoder (Pillow), not only libvips: damaged PNGs that libvips
reads but other decoders refuse are either refused (422) or stored as a PNG
every decoder reads. A sound APNG keeps its animation."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.conftest import Api

Chunk = tuple[bytes, bytes]


def _chunks(data: bytes) -> list[Chunk]:
    found, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        found.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return found


def _png(chunks: list[Chunk], bad_crc: bytes = b"") -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        crc = zlib.crc32(kind + body) ^ (0xFFFF if kind == bad_crc else 0)
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    return out


def _picture(width: int = 1600, height: int = 1200) -> list[Chunk]:
    """A photo-sized PNG with transparency, as a shop's product cut-out is."""
    rows, cols = np.indices((height, width))
    pixels = np.stack([rows % 256, cols % 256, (rows + cols) % 256, 255 - rows % 200], -1)
    out = io.BytesIO()
    Image.fromarray(pixels.astype("uint8")).save(out, "PNG")
    return _chunks(out.getvalue())


def _animation() -> list[Chunk]:
    frames = [Image.new("RGBA", (800, 600), (70 * n, 120, 200, 255)) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return _chunks(out.getvalue())


def _replace(chunks: list[Chunk], kind: bytes, change: Callable[[bytes], bytes]) -> list[Chunk]:
    return [(k, change(b) if k == kind else b) for k, b in chunks]


def _header_byte(index: int, value: int) -> Callable[[bytes], bytes]:
    return lambda body: body[:index] + bytes([value]) + body[index + 1 :]


def _without_second_frame_control(chunks: list[Chunk]) -> list[Chunk]:
    controls = [n for n, (k, _) in enumerate(chunks) if k == b"fcTL"]
    return [c for n, c in enumerate(chunks) if n != controls[1]]


def _animation_control_after_data(chunks: list[Chunk]) -> list[Chunk]:
    control = next(c for c in chunks if c[0] == b"acTL")
    rest = [c for c in chunks if c[0] != b"acTL"]
    last_data = max(n for n, (k, _) in enumerate(rest) if k == b"IDAT")
    return [*rest[: last_data + 1], control, *rest[last_data + 1 :]]


def _profile(method: int) -> Callable[[list[Chunk]], list[Chunk]]:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    chunk = (b"iCCP", b"sRGB\x00" + bytes([method]) + zlib.compress(profile))
    return lambda chunks: [chunks[0], chunk, *chunks[1:]]


def _frame_wider_than_canvas(body: bytes) -> bytes:
    return body[:4] + struct.pack(">I", 5000) + body[8:]


DAMAGED: dict[str, Callable[[], bytes]] = {
    "APNG data without its frame control": lambda: _png(
        _without_second_frame_control(_animation())
    ),
    "APNG frame count that disagrees": lambda: _png(
        _replace(_animation(), b"acTL", lambda _: struct.pack(">II", 7, 0))
    ),
    "APNG frame wider than the canvas": lambda: _png(
        _replace(_animation(), b"fcTL", _frame_wider_than_canvas)
    ),
    "APNG control after the image data": lambda: _png(_animation_control_after_data(_animation())),
    "APNG data that fails its checksum": lambda: _png(_animation(), bad_crc=b"fdAT"),
    "colour profile with an unknown compression method": lambda: _png(_profile(1)(_picture())),
    "image data that fails its checksum": lambda: _png(_picture(), bad_crc=b"IDAT"),
    "unknown compression method": lambda: _png(_replace(_picture(), b"IHDR", _header_byte(10, 1))),
    "unknown filter method": lambda: _png(_replace(_picture(), b"IHDR", _header_byte(11, 1))),
    "unknown interlace method": lambda: _png(_replace(_picture(), b"IHDR", _header_byte(12, 7))),
    "bit depth the colour type lacks": lambda: _png(
        _replace(_picture(), b"IHDR", _header_byte(8, 4))
    ),
}


def _decodes_everywhere(data: bytes) -> int:
    """The number of frames Pillow decodes from ``data``; it raises if any fails."""
    picture = Image.open(io.BytesIO(data))
    frames = getattr(picture, "n_frames", 1)
    for frame in range(frames):
        picture.seek(frame)
        picture.load()
    return int(frames)


@pytest.mark.parametrize("damage", list(DAMAGED))
def test_a_damaged_png_is_refused_or_stored_so_that_it_decodes(api: Api, damage: str) -> None:
    category = api.create(name="Damaged")
    answer = api.upload(category, DAMAGED[damage]())
    if answer.status_code == 422:
        assert answer.json()["errorCode"] == "INVALID_IMAGE"
        assert "PNG" in answer.json()["errorMessage"]
        return
    assert answer.status_code == 200, answer.text
    shown = api.category(category)
    for field in ("originalImageUrl", "imageUrl", "hdThumbnailUrl", "thumbnailUrl"):
        stored = api.client.get(str(shown[field]).removeprefix("http://testserver"))
        assert stored.status_code == 200
        assert _decodes_everywhere(stored.content) >= 1, field


def test_a_sound_apng_keeps_its_animation(api: Api) -> None:
    category = api.create(name="Animated")
    data = _png(_animation())
    assert api.upload(category, data).status_code == 200
    original = api.client.get(
        str(api.category(category)["originalImageUrl"]).removeprefix("http://testserver")
    )
    assert _decodes_everywhere(original.content) == 3
    assert original.content == data  # nothing to remove: kept byte for byte
