"""The real image processor, each call passed through: a test subclasses it
and overrides the one call it watches or breaks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vitrina.domain.seams import ImageProcessor
from vitrina.domain.values import EncodedFile, ImageHeader, ProcessedImage


class PassingThrough:
    def __init__(self, real: ImageProcessor) -> None:
        self.real = real

    def probe(self, source: Path) -> ImageHeader:
        return self.real.probe(source)

    def render(
        self, source: Path, width: int, height: int, fmt: str | None, stored: bytes | None = None
    ) -> EncodedFile:
        return self.real.render(source, width, height, fmt, stored)

    def process(
        self,
        source: Path,
        header: ImageHeader,
        thumbnail_size: int,
        image_size: int,
        keep_original: bool,
        on_original: Callable[[EncodedFile], None] | None = None,
        scratch: Path | None = None,
    ) -> ProcessedImage:
        return self.real.process(
            source, header, thumbnail_size, image_size, keep_original, on_original, scratch
        )
