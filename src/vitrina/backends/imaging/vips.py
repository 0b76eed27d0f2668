"""The image processor on libvips (pyvips).

Two decisions per upload, both made from the header alone:

- **The original.** Kept as uploaded with ``keep_original``. Otherwise a JPEG,
  PNG, WebP or GIF keeps its compressed pixels and loses every piece of
  metadata a browser does not need (``jpeg_strip``, ``container_strip``): no
  decode, no generation loss. Only what a browser could not show right is
  decoded and encoded again, upright and in sRGB: CMYK/YCCK JPEGs, JPEG codings
  browsers lack, PNG and WebP carrying an EXIF orientation, AVIF and HEIC
  (decoded by pillow-heif, the optional ``vitrina[heic]`` extra: ``heif``).
- **The variants** come from one reduced decode: ``jpegload(shrink=)`` for a
  JPEG, ``thumbnail`` (shrink-on-load where the format has it) for the rest.
  Orientation and colour management are applied to the reduced image, never
  to the full one. Only an original that is encoded again is decoded in full,
  and then the variants are fitted from that decode.

The variants are fitted largest first, each from the one before.

Every file is handed over with its size and ETag: a kept original is written
once, into the caller's scratch folder, and hashed in that pass; an encoded
file is hashed once in memory.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from vitrina.backends.imaging import heif
from vitrina.backends.imaging.border import border_info
from vitrina.backends.imaging.container_strip import strip_container
from vitrina.backends.imaging.jpeg_strip import strip_jpeg
from vitrina.backends.imaging.ranges import Unkeepable, copy_file
from vitrina.backends.imaging.renditions import best
from vitrina.backends.imaging.sniff import describe, sniff
from vitrina.domain.errors import ImageTooLarge, InvalidImage
from vitrina.domain.naming import CONTENT_TYPES, EXTENSIONS, etag, etag_digest, etag_of
from vitrina.domain.values import EncodedFile, ImageHeader, ProcessedImage

pyvips.cache_set_max(0)  # every upload is new: caching operations only costs memory


class _LibvipsAsDebug(logging.Filter):
    """libvips reports on every file it reads (about 20 lines an upload, many
    about the uploader's bytes, not the server): all of it is DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("vitrina").isEnabledFor(logging.DEBUG)


logging.getLogger("pyvips").addFilter(_LibvipsAsDebug())

HD_SIZE = 800
JPEG_QUALITY = 85
ORIGINAL_JPEG_QUALITY = 92  # an original encoded again loses as little as it can
WEBP_QUALITY = 85
# libwebp's effort 1 encodes a 1200 px photo in about a quarter of the time of
# its default (4) for files 3-4% larger; bench/pipeline.py prints both.
WEBP_EFFORT = 1
# zlib level 3 with the "sub" filter on every row: for photo-like PNGs about
# 2.2x faster to encode than libpng's usual level 6 without filtering (what
# sharp does) and 20-25% smaller; flat graphics come out the same
# (bench/pipeline.py, docs/images.md).
PNG_COMPRESSION = 3
PNG_FILTER = "sub"
_FAIL_ON = "truncated"
_NO_METADATA = pyvips.enums.ForeignKeep.NONE
_SERVED_AS_IS = ("jpeg", "png", "webp", "gif")  # formats whose original can be kept
_PATH = re.compile(r"""(?:[A-Za-z]:)?[\\/][^\s:()"',]*""")


def _error_line(exc: pyvips.Error) -> str:
    """The decoder's first line, with no file system path in it."""
    text = (exc.detail or exc.message or "").strip().splitlines()
    line = _PATH.sub("the file", text[0])[:200] if text else ""
    return line or "unknown decoder error"


def _unreadable(fmt: str, exc: pyvips.Error, decoding: bool = False) -> str:
    if decoding:
        return f"The uploaded {fmt.upper()} image is damaged or incomplete: {_error_line(exc)}"
    return (
        f"The uploaded file starts like a {fmt.upper()} image but cannot be read: "
        f"{_error_line(exc)}"
    )


def _orientation(image: pyvips.Image) -> int:
    if image.get_typeof("orientation"):
        value = int(image.get("orientation"))
        return value if 1 <= value <= 8 else 1
    return 1


def _has_profile(image: pyvips.Image) -> bool:
    return bool(image.get_typeof("icc-profile-data"))


def _to_srgb(image: pyvips.Image) -> pyvips.Image:
    """8-bit sRGB (or grey), colour-managed through the embedded profile."""
    cmyk = image.interpretation == "cmyk"
    if cmyk or _has_profile(image):
        try:
            image = image.icc_transform(
                "srgb",
                embedded=True,
                input_profile="cmyk" if cmyk else "srgb",
                intent="perceptual",
                depth=8,  # a 16-bit image is scaled, never clipped by the cast below
            )
        except pyvips.Error:
            image = image.colourspace("srgb")  # an unreadable profile: ignore it
    elif image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _reduced_jpeg(source: Path, header: ImageHeader, box: int) -> pyvips.Image:
    """Decode at 1/2, 1/4 or 1/8 size where that still covers ``box``, then
    resize the rest of the way."""
    longest = max(header.width, header.height)
    shrink = 1
    while shrink < 8 and longest // (shrink * 2) >= box:
        shrink *= 2
    image = pyvips.Image.jpegload(str(source), shrink=shrink, access="sequential", fail_on=_FAIL_ON)
    scale = box / max(image.width, image.height)
    if scale < 1:
        image = image.resize(scale)
    return image.copy_memory().autorot()


def _reduced(source: Path, header: ImageHeader, box: int) -> pyvips.Image:
    """The image fitted into ``box`` (never enlarged), upright, from one
    shrink-on-load decode."""
    if header.format == "jpeg":
        image = _reduced_jpeg(source, header, box)
    else:
        image = pyvips.Image.thumbnail(str(source), box, height=box, size="down", fail_on=_FAIL_ON)
    return _to_srgb(image).copy_memory()


def _full(source: Path, header: ImageHeader) -> pyvips.Image:
    """The whole image, upright, in sRGB, in memory (for an original encoded
    again, and for HEIC, which has no reduced decode)."""
    if header.format == "heif":
        image = heif.decode(source)
    else:
        image = pyvips.Image.new_from_file(str(source), fail_on=_FAIL_ON).autorot()
    return _to_srgb(image).copy_memory()


def _drop_opaque_alpha(image: pyvips.Image, fmt: str) -> pyvips.Image:
    """GIF, AVIF and HEIC become PNG only when they really have transparency
    (GIF decoders always hand back an alpha band)."""
    if fmt in ("jpeg", "png", "webp") or not image.hasalpha():
        return image
    if image[image.bands - 1].min() < 255:
        return image
    return image.extract_band(0, n=image.bands - 1)


def _encode(image: pyvips.Image, fmt: str, original: bool = False) -> bytes:
    data: bytes
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        quality = ORIGINAL_JPEG_QUALITY if original else JPEG_QUALITY
        data = image.jpegsave_buffer(Q=quality, keep=_NO_METADATA)
    elif fmt == "png":
        data = image.pngsave_buffer(
            compression=PNG_COMPRESSION, filter=PNG_FILTER, keep=_NO_METADATA
        )
    else:
        data = image.webpsave_buffer(Q=WEBP_QUALITY, effort=WEBP_EFFORT, keep=_NO_METADATA)
    return data


def _rgba(image: pyvips.Image) -> Any:
    if image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin_const([255])
    memory = image.write_to_memory()
    return np.ndarray(buffer=memory, dtype=np.uint8, shape=(image.height, image.width, 4))


def _needs_encoding(header: ImageHeader) -> bool:
    """Whether a browser could not show the original right as it is."""
    if header.format not in _SERVED_AS_IS:
        return True  # AVIF, HEIC
    if header.format == "jpeg":
        return header.cmyk  # CMYK and YCCK
    return header.orientation != 1  # browsers ignore EXIF orientation in PNG and WebP


def _scratch_file(folder: Path, scratch: list[Path]) -> Path:
    """A new empty file in ``folder``, listed in ``scratch`` (a hidden name, as
    the blob store's own temporary files have: the sweep removes a crash's)."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".original")
    os.close(fd)
    scratch.append(Path(name))
    return scratch[-1]


def _written_original(
    source: Path, header: ImageHeader, folder: Path, scratch: list[Path], keep_original: bool
) -> EncodedFile | None:
    """The original written once to a scratch file in ``folder``, its size and
    ETag taken in the same pass: the upload as it is (``keep_original``; the
    source stays the caller's), or with only display metadata. None when it
    can't be kept."""
    destination = _scratch_file(folder, scratch)
    digest = etag_digest()
    try:
        if keep_original:
            size = copy_file(source, destination, digest)
        elif header.format == "jpeg":
            size = strip_jpeg(source, destination, header.orientation, digest)
        else:
            size = strip_container(header.format, source, destination, digest)
    except Unkeepable:
        destination.unlink(missing_ok=True)
        scratch.remove(destination)
        return None
    fmt, (width, height) = header.format, header.shown
    return EncodedFile(
        "original", destination, EXTENSIONS[fmt], CONTENT_TYPES[fmt], width, height,
        size, etag_of(digest),
    )  # fmt: skip


class VipsProcessor:
    def __init__(self, max_pixels: int = 50_000_000) -> None:
        self.max_pixels = max_pixels

    def probe(self, source: Path) -> ImageHeader:
        with source.open("rb") as stream:
            head = stream.read(64)
        fmt = sniff(head)
        if fmt is None:
            raise InvalidImage(f"The uploaded file is not an image: it looks like {describe(head)}")
        if fmt == "heif":
            found = heif.header(source)
            self._check_pixels(found.width, found.height)
            return ImageHeader(fmt, found.width, found.height, found.orientation)
        try:
            image = pyvips.Image.new_from_file(str(source), access="sequential", fail_on=_FAIL_ON)
            width, height = image.width, image.get_page_height()
            orientation, cmyk = _orientation(image), image.interpretation == "cmyk"
        except pyvips.Error as exc:
            raise InvalidImage(_unreadable(fmt, exc)) from None
        self._check_pixels(width, height)
        return ImageHeader(fmt, width, height, orientation, cmyk)

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
                f"the limit is {self.max_pixels / 1e6:g} megapixels"
            )

    def render(
        self,
        source: Path,
        width: int,
        height: int,
        fmt: str | None,
        stored: bytes | None = None,
    ) -> EncodedFile:
        """A rendition of the original ``source``: fitted to ``width`` x
        ``height`` as the variants are, in ``fmt`` (avif, webp) when that is
        worth it against ``stored`` (the stored file of that size; without
        it, the variants' format encoded here), else in the variants' format."""
        try:
            header = self.probe(source)
            image = fitted(source, header, width, height)
            out_fmt = header.format if header.format in ("jpeg", "png", "webp") else None
            out_fmt = out_fmt or ("png" if image.hasalpha() else "jpeg")
            baseline = stored if stored is not None else _encode(image, out_fmt)
            data, chosen = None, out_fmt
            if fmt is not None and fmt != out_fmt:
                data = best(image, fmt, baseline, lossless=out_fmt == "png")
                chosen = fmt if data is not None else out_fmt
            data = data if data is not None else baseline
        except pyvips.Error as exc:
            message = f"The stored image cannot be read again: {_error_line(exc)}"
            raise InvalidImage(message) from None
        return EncodedFile(
            "rendition", data, EXTENSIONS[chosen], CONTENT_TYPES[chosen], width, height,
            len(data), etag(data),
        )  # fmt: skip

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
        written: list[Path] = []
        try:
            return self._process(
                source, header, thumbnail_size, image_size, keep_original,
                scratch or source.parent, written, on_original,
            )  # fmt: skip
        except BaseException as exc:
            for path in written:
                path.unlink(missing_ok=True)
            if not isinstance(exc, pyvips.Error):
                raise
            raise InvalidImage(_unreadable(header.format, exc, decoding=True)) from None

    def _process(
        self,
        source: Path,
        header: ImageHeader,
        thumbnail_size: int,
        image_size: int,
        keep_original: bool,
        folder: Path,
        written: list[Path],
        on_original: Callable[[EncodedFile], None] | None,
    ) -> ProcessedImage:
        """Files written to disk go in ``folder`` and are listed in ``written``."""
        boxes = sorted(
            (("image", image_size), ("hd", HD_SIZE), ("thumbnail", thumbnail_size)),
            key=lambda pair: -pair[1],
        )
        original: EncodedFile | None = None
        if keep_original or not _needs_encoding(header):
            original = _written_original(source, header, folder, written, keep_original)
        if original is not None and on_original is not None:
            on_original(original)  # final already: it can be stored while the variants are made

        reduced = original is not None and header.format != "heif"  # libvips has no HEVC
        base = _reduced(source, header, boxes[0][1]) if reduced else _full(source, header)
        base = _drop_opaque_alpha(base, header.format)
        out_fmt = header.format if header.format in ("jpeg", "png", "webp") else None
        out_fmt = out_fmt or ("png" if base.hasalpha() else "jpeg")
        full_size = None
        if original is None:
            original = _file("original", base, out_fmt, original=True)
            full_size = (base.width, base.height)
            if on_original is not None:
                on_original(original)

        variants: dict[str, EncodedFile] = {}
        current = base
        shown = (original.width, original.height)
        for role, box in boxes:
            width, height = fit(*shown, box)
            if (width, height) != (current.width, current.height):
                # sized from the original, so rounding does not drift down the chain
                # in memory: the next fit and the border read it, and a lazy
                # image would be fitted again for each of them
                current = current.thumbnail_image(width, height=height, size="force")
                current = current.copy_memory()
            if (current.width, current.height) == full_size:
                # not reduced: the encoded original serves as this variant too
                variants[role] = EncodedFile(role, *_rest(original))
            else:
                variants[role] = _file(role, current, out_fmt)
        border = border_info(_rgba(current))
        files = (original, variants["thumbnail"], variants["hd"], variants["image"])
        return ProcessedImage(files=files, border=border, temporary=tuple(written))


def fitted(source: Path, header: ImageHeader, width: int, height: int) -> pyvips.Image:
    """The image in ``source`` upright, in sRGB, fitted to exactly ``width``
    x ``height`` from one shrink-on-load decode: a rendition's pixels, and
    what its SSIM is measured against."""
    image = _reduced(source, header, max(width, height))
    image = _drop_opaque_alpha(image, header.format)
    if (image.width, image.height) != (width, height):
        image = image.thumbnail_image(width, height=height, size="force")
    return image


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down to fit ``box`` x ``box``, never up."""
    scale = box / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _file(role: str, image: pyvips.Image, fmt: str, original: bool = False) -> EncodedFile:
    """Encoded in memory, and hashed there once."""
    data = _encode(image, fmt, original)
    return EncodedFile(
        role, data, EXTENSIONS[fmt], CONTENT_TYPES[fmt], image.width, image.height,
        len(data), etag(data),
    )  # fmt: skip


def _rest(file: EncodedFile) -> tuple[bytes | Path, str, str, int, int, int, str]:
    """An encoded original's fields, for a variant that is the same bytes
    (never a scratch file: that one is taken by whoever stores it)."""
    assert isinstance(file.data, bytes)
    return file.data, file.ext, file.content_type, file.width, file.height, file.size, file.etag
