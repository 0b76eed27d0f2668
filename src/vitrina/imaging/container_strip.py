"""Lossless metadata removal from PNG, WebP and GIF originals (SPEC.md §4.1).

Each keeps the chunks or blocks a browser needs to show the picture (pixels,
palette, transparency, colour profile and gamma, animation) and drops the rest:
text, EXIF, XMP, timestamps, comments, unknown chunks, and anything after the
end of the file's structure. The pixel data is copied, never decoded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from vitrina.imaging.ranges import Piece, Reader, Unkeepable, write_pieces

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND",  # the picture
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV", b"cLLI",  # display
    b"acTL", b"fcTL", b"fdAT",  # animation (APNG)
}  # fmt: skip


def _png(reader: Reader) -> list[Piece]:
    if reader.read(0, 8) != _PNG_SIGNATURE:
        raise Unkeepable("no PNG signature")
    pieces: list[Piece] = [(0, 8)]
    pos = 8
    first = True
    while True:
        length, kind = struct.unpack(">I4s", reader.read(pos, 8))
        end = pos + 12 + length
        if end > reader.size or not kind.isalpha():
            raise Unkeepable("a damaged PNG chunk")
        if first and kind != b"IHDR":
            raise Unkeepable("a PNG that does not start with its header")
        first = False
        if kind in _PNG_KEPT:
            pieces.append((pos, end))
        pos = end
        if kind == b"IEND":
            return pieces


_WEBP_KEPT = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(reader: Reader) -> list[Piece]:
    riff, size, webp = struct.unpack("<4sI4s", reader.read(0, 12))
    if riff != b"RIFF" or webp != b"WEBP":
        raise Unkeepable("no WebP header")
    end_of_riff = 8 + size
    if end_of_riff > reader.size:
        raise Unkeepable("a WebP file shorter than its header says")
    body: list[Piece] = []
    body_size = 4  # "WEBP"
    pos = 12
    while pos + 8 <= end_of_riff:
        kind, length = struct.unpack("<4sI", reader.read(pos, 8))
        end = pos + 8 + length + (length & 1)
        if end > end_of_riff + (length & 1):  # a missing last pad byte is tolerated
            raise Unkeepable("a damaged WebP chunk")
        if kind == b"VP8X":
            if length != 10:
                raise Unkeepable("a damaged WebP extended header")
            header = bytearray(reader.read(pos, 18))
            header[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
            body.append(bytes(header))
            body_size += 18
        elif kind in _WEBP_KEPT:
            end = min(end, reader.size)
            body.append((pos, end))
            body_size += end - pos
        pos = end
    if not body:
        raise Unkeepable("a WebP file without pictures")
    return [b"RIFF" + struct.pack("<I", body_size) + b"WEBP", *body]


_GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")  # looping


def _gif_blocks(reader: Reader, pos: int) -> int:
    """The end of the data sub-blocks starting at ``pos``."""
    while True:
        size = reader.byte(pos)
        pos += 1 + size
        if size == 0:
            return pos


def _gif_table(packed: int) -> int:
    return 3 * (1 << ((packed & 7) + 1)) if packed & 0x80 else 0


def _gif(reader: Reader) -> list[Piece]:
    if reader.read(0, 6) not in (b"GIF87a", b"GIF89a"):
        raise Unkeepable("no GIF header")
    pos = 13 + _gif_table(reader.byte(10))
    pieces: list[Piece] = [(0, pos)]
    while True:
        block = reader.byte(pos)
        if block == 0x3B:  # trailer
            pieces.append((pos, pos + 1))
            return pieces
        if block == 0x2C:  # an image: descriptor, local colour table, LZW data
            data = pos + 10 + _gif_table(reader.byte(pos + 9))
            end = _gif_blocks(reader, data + 1)
            pieces.append((pos, end))
        elif block == 0x21:
            label = reader.byte(pos + 1)
            end = _gif_blocks(reader, pos + 2)
            if label == 0xF9 or (
                label == 0xFF and reader.read(pos + 2, 12)[1:] in _GIF_KEPT_APPLICATIONS
            ):
                pieces.append((pos, end))
            # comments, plain text and other applications (XMP) are dropped
        else:
            raise Unkeepable("a damaged GIF block")
        pos = end


_STRIPPERS: dict[str, Callable[[Reader], list[Piece]]] = {
    "png": _png,
    "webp": _webp,
    "gif": _gif,
}


def strip_container(fmt: str, source: Path, destination: Path) -> int:
    """Write ``source`` (a ``fmt`` file) with only display data to
    ``destination``; the size written."""
    with source.open("rb") as stream:
        return write_pieces(stream, _STRIPPERS[fmt](Reader(stream)), destination)
