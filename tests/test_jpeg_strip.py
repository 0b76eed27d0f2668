"""Lossless JPEG metadata removal: same pixels, only display metadata, bounded reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests import sample_images as images
from vitrina.backends.imaging import jpeg_strip, ranges


def _jpeg(tmp_path: Path, **options: Any) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x0112] = 3
    data = images.encode(
        images.gradient(333, 217),
        "JPEG",
        quality=90,
        exif=exif.tobytes(),
        comment=b"hidden note",
        **options,
    )
    path = tmp_path / "in.jpg"
    path.write_bytes(data + b"PK\x03\x04 appended archive")
    return path


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"restart_marker_blocks": 4}, {"subsampling": 0}],
)
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_same_pixels_without_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], chunk: int
) -> None:
    monkeypatch.setattr(ranges, "CHUNK", chunk)  # 7 bytes: markers straddle chunks
    source = _jpeg(tmp_path, **options)
    out = tmp_path / "out.jpg"
    size = jpeg_strip.strip_jpeg(source, out, orientation=3)
    stripped = out.read_bytes()
    assert size == len(stripped) < source.stat().st_size
    for secret in (b"SecretCam", b"hidden note", b"PK\x03\x04"):
        assert secret not in stripped
    assert stripped.endswith(b"\xff\xd9")
    before = np.asarray(images.decode(source.read_bytes()))
    kept = images.decode(stripped)
    assert np.array_equal(before, np.asarray(kept))
    assert dict(kept.getexif()) == {0x0112: 3}  # the orientation, alone


def test_an_upright_jpeg_gets_no_exif_block(tmp_path: Path) -> None:
    source = _jpeg(tmp_path)
    out = tmp_path / "out.jpg"
    jpeg_strip.strip_jpeg(source, out, orientation=1)
    assert b"Exif" not in out.read_bytes()


def test_the_jfif_header_loses_its_thumbnail(tmp_path: Path) -> None:
    thumbnail = b"THUMBNAILPIX"  # 2x2 pixels of 3 bytes
    jfif = b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x02" + thumbnail
    source = tmp_path / "in.jpg"
    source.write_bytes(images.with_segments(images.jpeg(64, 48), [images.segment(0xE0, jfif)]))
    out = tmp_path / "out.jpg"
    jpeg_strip.strip_jpeg(source, out)
    stripped = out.read_bytes()
    assert stripped.startswith(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00"
    )
    assert thumbnail not in stripped


def test_codings_browsers_lack_are_refused(tmp_path: Path) -> None:
    data = bytearray(images.jpeg(64, 48))
    frame = data.index(b"\xff\xc0")
    data[frame + 1] = 0xC9  # arithmetic coding
    source = tmp_path / "in.jpg"
    source.write_bytes(bytes(data))
    with pytest.raises(ranges.Unkeepable):
        jpeg_strip.strip_jpeg(source, tmp_path / "out.jpg")


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\xff", b"\x89PNG\r\n", b"\xff\xd8\xff\xda\x00\x02abc"],
)
def test_broken_input_is_refused(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "bad.jpg"
    source.write_bytes(data)
    with pytest.raises(ranges.Unkeepable):
        jpeg_strip.strip_jpeg(source, tmp_path / "out.jpg")
