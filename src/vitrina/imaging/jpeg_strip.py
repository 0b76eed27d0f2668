"""Lossless metadata removal from a JPEG: the compressed pixels are copied
as they are, the EXIF, XMP, IPTC, ICC and comment segments are dropped, and so
is anything after the end-of-image marker (appended files, MPF extras).

Only used where dropping them changes nothing a viewer shows: orientation 1
and no colour profile; other JPEGs are decoded and encoded again.
"""

from __future__ import annotations

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_KEEP_APP = {0xE0, 0xEE}  # JFIF, and Adobe (it says how to read the colour channels)


class NotAJpeg(ValueError):
    pass


def strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise NotAJpeg("no start-of-image marker")
    out = bytearray(b"\xff\xd8")
    pos, size = 2, len(data)
    while True:
        # Find the next marker, skipping fill bytes.
        if pos >= size or data[pos] != 0xFF:
            raise NotAJpeg("expected a marker")
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise NotAJpeg("truncated")
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            out += b"\xff\xd9"
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += bytes((0xFF, marker))
            continue
        if pos + 2 > size:
            raise NotAJpeg("truncated segment")
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            raise NotAJpeg("segment runs past the end")
        dropped = (0xE1 <= marker <= 0xEF and marker not in _KEEP_APP) or marker == 0xFE
        if not dropped:
            out += bytes((0xFF, marker)) + data[pos:end]
        pos = end
        if marker == _SOS:
            pos = _copy_scan(data, pos, out)


def _copy_scan(data: bytes, pos: int, out: bytearray) -> int:
    """Copy entropy-coded data up to the next real marker; return its offset."""
    size = len(data)
    start = pos
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= size:
            raise NotAJpeg("scan data runs past the end")
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos = found + 2
            continue
        if following == 0xFF:  # fill byte before a marker
            pos = found + 1
            continue
        out += data[start:found]
        return found
