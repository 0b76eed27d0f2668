"""HEIC test files: real ones from a phone and pillow-heif's test set
(tests/images/heic/README.md says where each comes from), and marker
photos made by pillow-heif's encoder (its wheel bundles x265)."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

from tests import sample_images as images

FOLDER = Path(__file__).resolve().parent / "images" / "heic"
ARROW_SHOWN = (3024, 4032)  # arrow.heic as a viewer shows it (stored 4032x3024)


def real(name: str) -> bytes:
    return (FOLDER / name).read_bytes()


def _boxes(data: bytes | bytearray, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, end) of the ISO-BMFF boxes in ``data[start:end]``."""
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[start + 8 : start + 16])[0], 16
        elif size == 0:
            size = end - start
        if size < head:
            break
        found.append((kind, start + head, start + size))
        start += size
    return found


def _meta_boxes(data: bytes | bytearray, kind: bytes) -> list[tuple[int, int]]:
    """Where each box of ``kind`` lies in the top-level ``meta`` box and its
    ``iprp`` (item properties) and ``ipco`` (their list)."""
    found = []
    for top, start, end in _boxes(data, 0, len(data)):
        if top != b"meta":
            continue
        for box, s, e in _boxes(data, start + 4, end):  # a full box: version and flags first
            if box == kind:
                found.append((s, e))
            if box == b"iprp":
                for inner, s2, e2 in _boxes(data, s, e):
                    if inner == kind:
                        found.append((s2, e2))
                    if inner == b"ipco":
                        found += [(s3, e3) for k, s3, e3 in _boxes(data, s2, e2) if k == kind]
    return found


def property_boxes(data: bytes | bytearray, kind: bytes) -> list[tuple[int, int]]:
    """Where each item property box of ``kind`` (``ispe``, ``irot``, ...) lies."""
    return _meta_boxes(data, kind)


def _property_numbers(data: bytes | bytearray, kind: bytes) -> set[int]:
    """The 1-based places of the ``kind`` properties in ``ipco``."""
    ((start, end),) = _meta_boxes(data, b"ipco")
    return {n for n, (k, _, _) in enumerate(_boxes(data, start, end), 1) if k == kind}


def _clear_essential(data: bytearray, numbers: set[int]) -> None:
    """Mark the associations (``ipma``) of the properties ``numbers`` as not
    essential, so that a decoder may skip them."""
    ((start, _),) = _meta_boxes(data, b"ipma")
    version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
    pos = start + 4
    (entries,) = struct.unpack(">I", data[pos : pos + 4])
    pos += 4
    for _ in range(entries):
        pos += 2 if version < 1 else 4  # the item id
        count = data[pos]
        pos += 1
        for _ in range(count):
            if flags & 1:
                value = int.from_bytes(data[pos : pos + 2], "big")
                if value & 0x7FFF in numbers:
                    data[pos : pos + 2] = (value & 0x7FFF).to_bytes(2, "big")
                pos += 2
            else:
                if data[pos] & 0x7F in numbers:
                    data[pos] &= 0x7F
                pos += 1


def with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` with every image's header (``ispe``) claiming ``width`` x
    ``height``: the pixels stay small, so only a header check can refuse it
    as too large (a decode fails on the mismatch instead)."""
    patched = bytearray(data)
    spans = property_boxes(patched, b"ispe")
    assert spans
    for start, _ in spans:
        patched[start + 4 : start + 12] = struct.pack(">II", width, height)
    return bytes(patched)


def without_container_turn(data: bytes) -> bytes:
    """``data`` with its ``irot`` boxes renamed to a type decoders skip: only
    the EXIF orientation is left to say how to turn it."""
    patched = bytearray(data)
    spans = property_boxes(patched, b"irot")
    assert spans
    _clear_essential(patched, _property_numbers(patched, b"irot"))
    for start, _ in spans:
        patched[start - 4 : start] = b"xrot"
    return bytes(patched)


def marker_heic(
    orientation: int = 1, profile: str | None = None, size: tuple[int, int] = (1600, 1200)
) -> bytes:
    """The marker photo of ``sample_images`` as HEIC, shown ``size``: stored
    turned for ``orientation``, which the file carries as EXIF and, as phones
    write it, as the container's transform too; pixels in ``profile`` ("p3"
    or None for sRGB) with the ICC profile embedded."""
    import pillow_heif
    from PIL import Image

    stored: Any = images._STORE[orientation](images.photo(*size))
    info: dict[str, Any] = {}
    if profile is not None:
        stored = stored.icc_transform(profile, input_profile="srgb", embedded=False)
        info["icc_profile"] = stored.get("icc-profile-data")
    exif = Image.Exif()
    exif[0x0112] = orientation
    heif = pillow_heif.from_bytes("RGB", (stored.width, stored.height), stored.write_to_memory())
    out = io.BytesIO()
    # x265's fastest preset: about 8x faster than its default, and these
    # tests look at orientation and colour, not at compression
    heif.save(out, quality=92, exif=exif.tobytes(), enc_params={"preset": "ultrafast"}, **info)
    return out.getvalue()


def ten_bit_p3_heic(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """The marker photo as a 10-bit HEIC whose colour is described the way
    cameras and Android phones do it: NCLX with Display P3 primaries and the
    sRGB curve, no ICC profile."""
    import numpy as np
    import pillow_heif

    width, height = size
    p3 = images.photo(width, height).icc_transform("p3", input_profile="srgb", depth=16)
    pixels = np.ndarray(buffer=p3.write_to_memory(), dtype=np.uint16, shape=(height, width, 3))
    heif = pillow_heif.from_bytes("RGB;16", size, pixels.tobytes())
    nclx = {
        "color_primaries": 12,  # SMPTE EG 432-1: Display P3
        "transfer_characteristics": 13,  # sRGB
        "matrix_coefficients": 6,
        "full_range_flag": 1,
    }
    out = io.BytesIO()
    heif.save(out, quality=95, nclx_profile=nclx, enc_params={"preset": "ultrafast"})
    return out.getvalue()
