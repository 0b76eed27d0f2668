"""Lossless metadata removal from PNG, WebP and GIF originals (docs/differences.md).

Each keeps the chunks or blocks a browser needs to show the picture (pixels,
palette, transparency, colour profile and gamma, animation) and drops the rest:
text, EXIF, XMP, timestamps, comments, unknown chunks, and anything after the
end of the file's structure. The pixel data is copied, never decoded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from vitrina.backends.imaging.ranges import Piece, Reader, Unkeepable, write_pieces
from vitrina.domain.naming import Digest

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND",  # the picture
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV", b"cLLI",  # display
    b"acTL", b"fcTL", b"fdAT",  # animation (APNG)
}  # fmt: skip


# the bit depths each PNG colour type allows
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_APNG = (b"acTL", b"fcTL", b"fdAT")


def _png_header(body: bytes) -> tuple[int, int, int]:
    """Width, height and colour type of a valid IHDR; Unkeepable otherwise
    (an unknown compression, filter or interlace method, a bit depth the
    colour type does not have: decoders other than libvips refuse them)."""
    if len(body) != 13:
        raise Unkeepable("a damaged PNG header")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", body
    )
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise Unkeepable("a PNG header with an impossible size")
    if depth not in _PNG_DEPTHS.get(colour, ()):
        raise Unkeepable("a PNG header with an unknown colour type or bit depth")
    if compression or filtering or interlace > 1:
        raise Unkeepable("a PNG header with an unknown compression, filter or interlace method")
    return width, height, colour


def _apng_is_sound(chunks: list[tuple[bytes, bytes]], width: int, height: int) -> bool:
    """Whether the animation chunks (kind and the start of its body, in file
    order) form an APNG that decoders read: one acTL before the image data,
    a frame count and sequence numbers that agree, each fdAT after the image
    data and after its frame's fcTL, frames inside the canvas, and a first
    frame that fills it when the image data is that frame."""
    kinds = [kind for kind, _ in chunks]
    if b"acTL" not in kinds:
        return not any(kind in _APNG for kind in kinds)
    if kinds.count(b"acTL") != 1 or kinds.index(b"acTL") > kinds.index(b"IDAT"):
        return False
    frames, plays = struct.unpack(">II", chunks[kinds.index(b"acTL")][1][:8])
    sequence, seen_frames, idat_seen = 0, 0, False
    for kind, body in chunks:
        if kind == b"IDAT":
            idat_seen = True
        elif kind == b"fcTL":
            if len(body) != 26:
                return False
            number, w, h, x, y, _, _, dispose, blend = struct.unpack(">IIIIIHHBB", body)
            if number != sequence or not (w and h and x + w <= width and y + h <= height):
                return False
            if dispose > 2 or blend > 1:
                return False
            if not idat_seen and (x, y, w, h) != (0, 0, width, height):
                return False  # the image data is the first frame: it fills the canvas
            sequence, seen_frames = sequence + 1, seen_frames + 1
        elif kind == b"fdAT":
            if not idat_seen or not seen_frames or len(body) < 4:
                return False
            if struct.unpack(">I", body[:4])[0] != sequence:
                return False
            sequence += 1
    return bool(int(frames) == seen_frames > 0 and int(plays) < 2**31)


def _iccp_is_sound(start: bytes) -> bool:
    """A profile name of 1 to 79 bytes, then compression method 0 (zlib)."""
    name_end = start.find(b"\x00")
    return 0 < name_end < 80 and start[name_end + 1 : name_end + 2] == b"\x00"


def _png(reader: Reader) -> list[Piece]:
    """The chunks a browser needs, each checked against its CRC; a file any
    decoder could refuse is Unkeepable (it is encoded again instead). An
    animation that is not a sound APNG loses its animation chunks and keeps
    its image, which is what the variants are made from."""
    if reader.read(0, 8) != _PNG_SIGNATURE:
        raise Unkeepable("no PNG signature")
    kept: list[tuple[bytes, bytes, tuple[int, int]]] = []
    pos, width, height, colour = 8, 0, 0, -1
    while True:
        length, kind = struct.unpack(">I4s", reader.read(pos, 8))
        end = pos + 12 + length
        if end > reader.size or not kind.isalpha():
            raise Unkeepable("a damaged PNG chunk")
        if not kept and kind != b"IHDR":
            raise Unkeepable("a PNG that does not start with its header")
        if kind in _PNG_KEPT:
            crc = struct.unpack(">I", reader.read(end - 4, 4))[0]
            if reader.crc32(pos + 4, length + 4) != crc:
                if kind in (b"IHDR", b"PLTE", b"IDAT", b"IEND"):
                    raise Unkeepable(f"a PNG {kind.decode()} chunk that fails its checksum")
            else:
                small = reader.read(pos + 8, min(length, 64)) if kind != b"IDAT" else b""
                if kind == b"IHDR":
                    width, height, colour = _png_header(small)
                if kind != b"iCCP" or _iccp_is_sound(small):
                    kept.append((kind, small, (pos, end)))
        pos = end
        if kind == b"IEND":
            break
    kinds = [kind for kind, _, _ in kept]
    if b"IDAT" not in kinds or (colour == 3 and b"PLTE" not in kinds):
        raise Unkeepable("a PNG without its image data or palette")
    first, last = kinds.index(b"IDAT"), len(kinds) - 1 - kinds[::-1].index(b"IDAT")
    if any(kind != b"IDAT" for kind in kinds[first:last]):
        raise Unkeepable("a PNG whose image data is not in one run")
    if not _apng_is_sound([(kind, body) for kind, body, _ in kept], width, height):
        kept = [chunk for chunk in kept if chunk[0] not in _APNG]
    return [(0, 8), *(piece for _, _, piece in kept)]


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


def strip_container(fmt: str, source: Path, destination: Path, digest: Digest | None = None) -> int:
    """Write ``source`` (a ``fmt`` file) with only display data to
    ``destination``; the size written. The bytes written are fed to
    ``digest`` as they are written."""
    with source.open("rb") as stream:
        return write_pieces(stream, _STRIPPERS[fmt](Reader(stream)), destination, digest)
