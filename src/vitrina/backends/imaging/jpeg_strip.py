"""Lossless metadata removal from a JPEG (the original: docs/differences.md).

The compressed pixels are copied as they are. Of the metadata, only what a
browser needs to show the picture right survives:

- the JFIF header (APP0), rewritten without its embedded thumbnail;
- the EXIF orientation, alone in a new minimal EXIF block (APP1);
- the ICC colour profile (APP2 ``ICC_PROFILE`` segments);
- the 12 bytes of the Adobe marker (APP14) that say how to read the colour
  channels, with anything after them cut.

Everything else goes: other EXIF (GPS, maker notes, thumbnails), XMP, IPTC,
MPF, JFXX thumbnails, comments, unknown segments, and anything after the
end-of-image marker (appended files, MPF extras).

A JPEG that browsers cannot show (arithmetic coding, lossless or 12-bit
frames) raises ``Unkeepable``: the caller encodes it again instead.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from vitrina.backends.imaging.ranges import Piece, Reader, Unkeepable, write_pieces
from vitrina.domain.naming import Digest

_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_APP0, _APP1, _APP2, _APP14, _APP15 = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF
# Frame markers browsers decode: baseline, extended and progressive Huffman.
_SHOWN_FRAMES = {0xC0, 0xC1, 0xC2}
# Every other frame marker (lossless, hierarchical, arithmetic; JPEG-LS) and
# the arithmetic-coding table marker.
_OTHER_FRAMES = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF, 0xF7}
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_ADOBE_LENGTH = 12  # "Adobe", version, flags0, flags1, colour transform


def minimal_exif(orientation: int) -> bytes:
    """An APP1 segment holding only the EXIF orientation tag."""
    payload = (
        b"Exif\x00\x00"
        + b"MM\x00\x2a\x00\x00\x00\x08"  # big-endian TIFF header, IFD0 at offset 8
        + b"\x00\x01"  # one entry
        + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)  # Orientation, SHORT, 1 value
        + b"\x00\x00\x00\x00"  # no next IFD
    )
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _scan_end(reader: Reader, pos: int) -> int:
    """Where the entropy-coded data that starts at ``pos`` ends: the next 0xFF
    that starts a marker, skipping stuffed bytes (FF 00), restart markers
    (FF D0-D7) and fill bytes."""
    while pos < reader.size - 1:
        if not reader.start <= pos < reader.start + len(reader.chunk) - 1:
            reader.load(pos)
        found = _MARKER.search(reader.chunk, pos - reader.start)
        if found:
            return reader.start + found.start()
        pos = reader.start + len(reader.chunk) - 1  # a pair may straddle two chunks
    raise Unkeepable("the JPEG scan data runs past the end of the file")


def _pieces(reader: Reader, orientation: int) -> list[Piece]:
    if reader.byte(0) != 0xFF or reader.byte(1) != _SOI:
        raise Unkeepable("no JPEG start-of-image marker")
    jfif: bytes | None = None
    adobe: bytes | None = None
    body: list[Piece] = []
    framed = False
    pos = 2
    while True:
        if reader.byte(pos) != 0xFF:
            raise Unkeepable("expected a JPEG marker")
        while reader.byte(pos) == 0xFF:  # fill bytes
            pos += 1
        marker = reader.byte(pos)
        start, pos = pos - 1, pos + 1
        if marker == _EOI:
            body.append((start, pos))
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            body.append((start, pos))
            continue
        if marker == _SOI:
            raise Unkeepable("a second start-of-image marker")
        length = reader.byte(pos) << 8 | reader.byte(pos + 1)
        end = pos + length
        if length < 2 or end > reader.size:
            raise Unkeepable("a JPEG segment runs past the end of the file")
        payload_start = pos + 2
        if marker in _OTHER_FRAMES:
            raise Unkeepable("a JPEG coding that browsers do not show")
        if marker in _SHOWN_FRAMES:
            if reader.byte(payload_start) != 8:
                raise Unkeepable("a JPEG with more than 8 bits per sample")
            framed = True
            body.append((start, end))
        elif marker == _APP0:
            start_of = reader.read(payload_start, min(length - 2, 14))
            if jfif is None and len(start_of) == 14 and start_of.startswith(b"JFIF\x00"):
                jfif = _segment(_APP0, start_of[:12] + b"\x00\x00")  # no thumbnail
        elif marker == _APP2:
            if reader.read(payload_start, min(length - 2, 12)) == b"ICC_PROFILE\x00":
                body.append((start, end))
        elif marker == _APP14:
            start_of = reader.read(payload_start, min(length - 2, _ADOBE_LENGTH))
            if adobe is None and len(start_of) == _ADOBE_LENGTH and start_of.startswith(b"Adobe"):
                adobe = _segment(_APP14, start_of)
        elif _APP1 <= marker <= _APP15 or marker == _COM or 0xF0 <= marker <= 0xFD:
            pass  # EXIF, XMP, IPTC, MPF, comments, unknown extensions: dropped
        else:  # tables, restart interval, frame, scan
            body.append((start, end))
        pos = end
        if marker == _SOS:
            if not framed:
                raise Unkeepable("a JPEG scan before its frame header")
            scan_end = _scan_end(reader, pos)
            body.append((pos, scan_end))
            pos = scan_end
    lead: list[Piece] = [b"\xff\xd8"]
    if jfif is not None:
        lead.append(jfif)
    if 2 <= orientation <= 8:
        lead.append(minimal_exif(orientation))
    if adobe is not None:
        lead.append(adobe)
    return lead + body


def strip_jpeg(
    source: Path, destination: Path, orientation: int = 1, digest: Digest | None = None
) -> int:
    """Write ``source`` with only display metadata to ``destination``, keeping
    ``orientation`` (1 to 8) in a minimal EXIF block; the size written. The
    bytes written are fed to ``digest`` as they are written."""
    with source.open("rb") as stream:
        return write_pieces(stream, _pieces(Reader(stream), orientation), destination, digest)
