"""Image sources for uploads: a path, bytes or an open binary file, streamed
and never read whole into memory (bytes excepted: they are already there)."""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, BinaryIO

import anyio

Source = str | os.PathLike[str] | bytes | BinaryIO | IO[bytes]
CHUNK = 256 * 1024


class Upload:
    """One source, which can be sent again when it can be read again."""

    def __init__(self, source: Source, content_type: str | None = None) -> None:
        self.source = source
        self.path: Path | None = None
        self.start = 0
        if isinstance(source, str | os.PathLike):
            self.path = Path(source)
            self.size: int | None = self.path.stat().st_size
        elif isinstance(source, bytes | bytearray | memoryview):
            self.size = len(source)
        else:
            self.start = source.tell() if source.seekable() else 0
            self.size = None
            if source.seekable():
                self.size = source.seek(0, io.SEEK_END) - self.start
                source.seek(self.start)
        guessed = mimetypes.guess_type(self.path.name)[0] if self.path else None
        self.content_type = content_type or guessed or "application/octet-stream"

    @property
    def repeatable(self) -> bool:
        return not hasattr(self.source, "read") or self.source.seekable()  # type: ignore[union-attr]

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.size is not None:
            headers["Content-Length"] = str(self.size)
        return headers

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self.source, bytes | bytearray | memoryview):
            yield bytes(self.source)
            return
        if self.path is not None:
            with self.path.open("rb") as file:
                yield from iter(lambda: file.read(CHUNK), b"")
            return
        stream = self.source
        assert not isinstance(stream, str | os.PathLike)
        if stream.seekable():
            stream.seek(self.start)
        yield from iter(lambda: stream.read(CHUNK), b"")

    async def achunks(self) -> AsyncIterator[bytes]:
        if isinstance(self.source, bytes | bytearray | memoryview):
            yield bytes(self.source)
            return
        pieces = self.chunks()
        while True:
            piece = await anyio.to_thread.run_sync(next, pieces, None)
            if piece is None:
                return
            yield piece
