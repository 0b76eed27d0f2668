"""Lossless metadata removal from a JPEG: the compressed pixels are copied
as they are, the EXIF, XMP, IPTC, ICC and comment segments are dropped, and so
is anything after the end-of-image marker (appended files, MPF extras).

Only used where dropping them changes nothing a viewer shows: orientation 1
and no colour profile; other JPEGs are decoded and encoded again.

It works file to file in bounded memory: the input is read in chunks to find
the byte ranges to keep, then those ranges are copied.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

_EOI, _SOS = 0xD9, 0xDA
_KEEP_APP = {0xE0, 0xEE}  # JFIF, and Adobe (it says how to read the colour channels)
_CHUNK = 1 << 20
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class NotAJpeg(ValueError):
    pass


class _Reader:
    """Random access to a file through one cached chunk."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = os.fstat(stream.fileno()).st_size
        self.start = 0
        self.chunk = b""

    def _load(self, pos: int) -> None:
        self.stream.seek(pos)
        self.start, self.chunk = pos, self.stream.read(_CHUNK)

    def byte(self, pos: int) -> int:
        if pos >= self.size:
            raise NotAJpeg("truncated")
        if not self.start <= pos < self.start + len(self.chunk):
            self._load(pos)
        return self.chunk[pos - self.start]

    def find_marker(self, pos: int) -> int:
        """The offset of the next 0xFF that starts a marker, skipping stuffed
        bytes (FF 00), restart markers (FF D0-D7) and fill bytes."""
        while pos < self.size - 1:
            if not self.start <= pos < self.start + len(self.chunk) - 1:
                self._load(pos)
            found = _MARKER.search(self.chunk, pos - self.start)
            if found:
                return self.start + found.start()
            pos = self.start + len(self.chunk) - 1  # a pair may straddle two chunks
        raise NotAJpeg("scan data runs past the end")


def _ranges(reader: _Reader) -> list[tuple[int, int]]:
    """The byte ranges of the input that make up the stripped JPEG."""
    if reader.byte(0) != 0xFF or reader.byte(1) != 0xD8:
        raise NotAJpeg("no start-of-image marker")
    keep = [(0, 2)]
    pos = 2
    while True:
        if reader.byte(pos) != 0xFF:
            raise NotAJpeg("expected a marker")
        while reader.byte(pos) == 0xFF:  # fill bytes
            pos += 1
        marker = reader.byte(pos)
        start, pos = pos - 1, pos + 1
        if marker == _EOI:
            keep.append((start, pos))
            return keep
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            keep.append((start, pos))
            continue
        length = reader.byte(pos) << 8 | reader.byte(pos + 1)
        end = pos + length
        if length < 2 or end > reader.size:
            raise NotAJpeg("segment runs past the end")
        dropped = (0xE1 <= marker <= 0xEF and marker not in _KEEP_APP) or marker == 0xFE
        if not dropped:
            keep.append((start, end))
        pos = end
        if marker == _SOS:
            scan_end = _scan_end(reader, pos)
            keep.append((pos, scan_end))
            pos = scan_end


def _scan_end(reader: _Reader, pos: int) -> int:
    """Where the entropy-coded data that starts at ``pos`` ends."""
    return reader.find_marker(pos)


def strip_jpeg(source: Path, destination: Path) -> int:
    """Write ``source`` without its metadata to ``destination``; its size."""
    with source.open("rb") as stream:
        ranges = _ranges(_Reader(stream))
        written = 0
        with destination.open("wb") as out:
            for start, end in ranges:
                stream.seek(start)
                left = end - start
                while left:
                    piece = stream.read(min(left, _CHUNK))
                    out.write(piece)
                    left -= len(piece)
                    written += len(piece)
    return written
