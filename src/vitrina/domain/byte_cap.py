"""The one rule for bodies and downloads with a size limit: refuse at once
when the declared length is over it, and stop at the first byte over it
whatever was declared (the declared length may lie or be missing)."""

from __future__ import annotations

from collections.abc import Callable


class ByteCap:
    def __init__(self, limit: int, error: Callable[[], Exception]) -> None:
        self.limit = limit
        self.error = error
        self.received = 0

    def declared(self, length: str) -> None:
        """Check a Content-Length header before reading anything."""
        if length.isascii() and length.isdigit() and int(length) > self.limit:
            raise self.error()

    def add(self, chunk: bytes) -> bytes:
        """Count ``chunk`` in; the chunk, for writing on."""
        self.received += len(chunk)
        if self.received > self.limit:
            raise self.error()
        return chunk
