"""Lossless JPEG metadata removal: same pixels, no metadata, bounded reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests import images
from vitrina.imaging import jpeg_strip


def _jpeg(tmp_path: Path, **options: Any) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
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
    monkeypatch.setattr(jpeg_strip, "_CHUNK", chunk)  # 7 bytes: markers straddle chunks
    source = _jpeg(tmp_path, **options)
    out = tmp_path / "out.jpg"
    size = jpeg_strip.strip_jpeg(source, out)
    stripped = out.read_bytes()
    assert size == len(stripped) < source.stat().st_size
    for secret in (b"SecretCam", b"Exif", b"hidden note", b"PK\x03\x04"):
        assert secret not in stripped
    assert stripped.endswith(b"\xff\xd9")
    before = np.asarray(images.decode(source.read_bytes()))
    after = np.asarray(images.decode(stripped))
    assert np.array_equal(before, after)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00\xff", b"\x89PNG\r\n", b"\xff\xd8\xff\xda\x00\x02abc"],
)
def test_broken_input_is_refused(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "bad.jpg"
    source.write_bytes(data)
    with pytest.raises(jpeg_strip.NotAJpeg):
        jpeg_strip.strip_jpeg(source, tmp_path / "out.jpg")
