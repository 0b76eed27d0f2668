"""File-to-file rewriting in bounded memory, shared by the lossless strippers.

A stripper reads its input through ``Reader`` (random access through one
cached chunk) to decide which byte ranges to keep, then ``write_pieces``
copies those ranges, with any new bytes between them, to the output. The
input is never read whole into memory.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from vitrina.domain.naming import Digest

CHUNK = 1 << 20

# A piece of output: a byte range of the input, or new bytes.
Piece = tuple[int, int] | bytes


class Unkeepable(ValueError):
    """The file cannot be kept as it is: damaged, or a kind browsers can't
    show; the caller decodes and encodes it again instead."""


class Reader:
    """Random access to a file through one cached chunk."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = os.fstat(stream.fileno()).st_size
        self.chunk_size = CHUNK
        self.start = 0
        self.chunk = b""

    def load(self, pos: int) -> None:
        self.stream.seek(pos)
        self.start, self.chunk = pos, self.stream.read(self.chunk_size)

    def byte(self, pos: int) -> int:
        if not 0 <= pos < self.size:
            raise Unkeepable("the file ends too soon")
        if not self.start <= pos < self.start + len(self.chunk):
            self.load(pos)
        return self.chunk[pos - self.start]

    def read(self, pos: int, count: int) -> bytes:
        """Exactly ``count`` bytes at ``pos`` (small reads: headers, lengths)."""
        if pos < 0 or pos + count > self.size:
            raise Unkeepable("the file ends too soon")
        if not (self.start <= pos and pos + count <= self.start + len(self.chunk)):
            self.load(pos)
            if len(self.chunk) < count:
                self.stream.seek(pos)
                return self.stream.read(count)
        offset = pos - self.start
        return self.chunk[offset : offset + count]

    def crc32(self, pos: int, count: int) -> int:
        """The CRC-32 of ``count`` bytes at ``pos``, read in bounded slices."""
        if pos < 0 or pos + count > self.size:
            raise Unkeepable("the file ends too soon")
        crc = 0
        self.stream.seek(pos)
        while count:
            data = self.stream.read(min(count, CHUNK))
            if not data:
                raise Unkeepable("the file ends too soon")
            crc = zlib.crc32(data, crc)
            count -= len(data)
        self.chunk = b""  # the stream moved: read from the file again
        return crc


def write_pieces(
    source: BinaryIO, pieces: Sequence[Piece], destination: Path, digest: Digest | None = None
) -> int:
    """Write ``pieces`` to ``destination``; the number of bytes written. Each
    byte written is also fed to ``digest``, in the same pass."""
    written = 0
    with destination.open("wb") as out:
        for piece in pieces:
            if isinstance(piece, bytes):
                out.write(piece)
                if digest is not None:
                    digest.update(piece)
                written += len(piece)
                continue
            start, end = piece
            source.seek(start)
            left = end - start
            while left:
                data = source.read(min(left, CHUNK))
                if not data:
                    raise Unkeepable("the file ends too soon")
                out.write(data)
                if digest is not None:
                    digest.update(data)
                left -= len(data)
                written += len(data)
    return written


def copy_file(source: Path, destination: Path, digest: Digest | None = None) -> int:
    """Copy ``source`` whole to ``destination`` (through ``digest``); the size."""
    with source.open("rb") as stream:
        return write_pieces(stream, [(0, os.fstat(stream.fileno()).st_size)], destination, digest)
