"""The image processor on libvips (pyvips).

One decode per upload. Two paths:

- *clean original*: the original must be re-encoded (orientation, colour
  profile, CMYK, or a format that is not served as is). Decode in full, orient,
  convert to sRGB, keep it in memory, encode the original, then fit the
  variants from it, largest first, each from the one before.
- *untouched original*: a JPEG that is upright and has no colour profile only
  loses its metadata, losslessly (``jpeg_strip``); with ``keep_original`` the
  bytes are kept as uploaded. The variants then come from ``thumbnail``, which
  decodes with shrink-on-load.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from vitrina.errors import ImageTooLarge, InvalidImage
from vitrina.imaging.border import border_info
from vitrina.imaging.jpeg_strip import NotAJpeg, strip_jpeg
from vitrina.imaging.sniff import describe, sniff
from vitrina.interfaces import EncodedFile, ImageHeader, ProcessedImage

pyvips.cache_set_max(0)  # every upload is new: caching operations only costs memory

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "heif": "image/heic",
}
EXTENSIONS = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "heif": "heic",
}
HD_SIZE = 800
JPEG_QUALITY = 85
WEBP_QUALITY = 85
PNG_COMPRESSION = 6
_FAIL_ON = "truncated"
_NO_METADATA = pyvips.enums.ForeignKeep.NONE


def _error_line(exc: pyvips.Error) -> str:
    text = (exc.detail or exc.message or "").strip().splitlines()
    return text[0][:200] if text else "unknown decoder error"


def _unreadable(fmt: str, exc: pyvips.Error, decoding: bool = False) -> str:
    if fmt == "heif":
        return (
            f"The uploaded HEIC image cannot be read ({_error_line(exc)}); this server's image "
            "library may have no HEVC decoder: send JPEG, PNG, WebP or AVIF"
        )
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
    cmyk = image.interpretation == "cmyk"
    if cmyk or _has_profile(image):
        try:
            image = image.icc_transform(
                "srgb", embedded=True, input_profile="cmyk" if cmyk else "srgb", intent="perceptual"
            )
        except pyvips.Error:
            image = image.colourspace("srgb")  # an unreadable profile: ignore it
    elif image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _shrink_on_load(source: Path, header: ImageHeader, box: int) -> pyvips.Image:
    """Decode a JPEG at 1/2, 1/4 or 1/8 size where that still covers ``box``,
    then resize the rest of the way."""
    longest = max(header.width, header.height)
    shrink = 1
    while shrink < 8 and longest // (shrink * 2) >= box:
        shrink *= 2
    image = pyvips.Image.jpegload(str(source), shrink=shrink, access="sequential", fail_on=_FAIL_ON)
    scale = box / max(image.width, image.height)
    return image if scale >= 1 else image.resize(scale)


def _drop_opaque_alpha(image: pyvips.Image, fmt: str) -> pyvips.Image:
    """GIF, AVIF and HEIC become PNG only when they really have transparency
    (GIF decoders always hand back an alpha band)."""
    if fmt in ("jpeg", "png", "webp") or not image.hasalpha():
        return image
    if image[image.bands - 1].min() < 255:
        return image
    return image.extract_band(0, n=image.bands - 1)


def _encode(image: pyvips.Image, fmt: str) -> bytes:
    data: bytes
    if fmt == "jpeg":
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        data = image.jpegsave_buffer(Q=JPEG_QUALITY, keep=_NO_METADATA)
    elif fmt == "png":
        data = image.pngsave_buffer(compression=PNG_COMPRESSION, keep=_NO_METADATA)
    else:
        data = image.webpsave_buffer(Q=WEBP_QUALITY, keep=_NO_METADATA)
    return data


def _rgba(image: pyvips.Image) -> Any:
    if image.bands < 3:
        image = image.colourspace("srgb")
    if not image.hasalpha():
        image = image.bandjoin_const([255])
    memory = image.write_to_memory()
    return np.ndarray(buffer=memory, dtype=np.uint8, shape=(image.height, image.width, 4))


def etag(data: bytes | Path) -> str:
    if isinstance(data, Path):
        with data.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()[:40]
    return hashlib.sha256(data).hexdigest()[:40]


class VipsProcessor:
    def __init__(self, max_pixels: int = 50_000_000) -> None:
        self.max_pixels = max_pixels

    def probe(self, source: Path) -> ImageHeader:
        with source.open("rb") as stream:
            head = stream.read(64)
        fmt = sniff(head)
        if fmt is None:
            raise InvalidImage(f"The uploaded file is not an image: it looks like {describe(head)}")
        try:
            image = pyvips.Image.new_from_file(str(source), access="sequential", fail_on=_FAIL_ON)
            width, height = image.width, image.get_page_height()
        except pyvips.Error as exc:
            raise InvalidImage(_unreadable(fmt, exc)) from None
        if width * height > self.max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
                f"the limit is {self.max_pixels / 1e6:g} megapixels"
            )
        return ImageHeader(format=fmt, width=width, height=height)

    def process(
        self,
        source: Path,
        header: ImageHeader,
        thumbnail_size: int,
        image_size: int,
        keep_original: bool,
    ) -> ProcessedImage:
        scratch: list[Path] = []
        try:
            return self._process(source, header, thumbnail_size, image_size, keep_original, scratch)
        except BaseException as exc:
            for path in scratch:
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
        scratch: list[Path],
    ) -> ProcessedImage:
        boxes = sorted(
            (("image", image_size), ("hd", HD_SIZE), ("thumbnail", thumbnail_size)),
            key=lambda pair: -pair[1],
        )
        first = pyvips.Image.new_from_file(str(source), access="sequential", fail_on=_FAIL_ON)
        orientation = _orientation(first)
        original: EncodedFile | None = None
        untouched = keep_original or (
            header.format == "jpeg"
            and orientation == 1
            and not _has_profile(first)
            and first.interpretation in ("srgb", "b-w")
        )
        if untouched:
            # The source lives until the caller has stored the files.
            data = source if keep_original else source.with_name(source.name + ".original")
            try:
                if not keep_original:
                    scratch.append(data)
                    strip_jpeg(source, data)
            except NotAJpeg:
                untouched = False
            else:
                width, height = header.width, header.height
                if orientation >= 5:
                    width, height = height, width
                ext_fmt = header.format if keep_original else "jpeg"
                original = EncodedFile(
                    "original", data, EXTENSIONS[ext_fmt], CONTENT_TYPES[ext_fmt], width, height
                )
                if keep_original:  # may need orienting and colour management
                    base = pyvips.Image.thumbnail(
                        str(source),
                        boxes[0][1],
                        height=boxes[0][1],
                        size="down",
                        fail_on=_FAIL_ON,
                    )
                else:  # an upright sRGB JPEG: shrink while decoding, then fit
                    base = _shrink_on_load(source, header, boxes[0][1])
                base = _to_srgb(base).copy_memory()
        if original is None:
            base = _to_srgb(
                pyvips.Image.new_from_file(
                    str(source), access="sequential", fail_on=_FAIL_ON
                ).autorot()
            ).copy_memory()
        base = _drop_opaque_alpha(base, header.format)
        out_fmt = header.format if header.format in ("jpeg", "png", "webp") else None
        out_fmt = out_fmt or ("png" if base.hasalpha() else "jpeg")
        if original is None:
            original = _file("original", base, out_fmt)

        variants: dict[str, EncodedFile] = {}
        current = base
        for role, box in boxes:
            if max(current.width, current.height) > box:
                current = current.thumbnail_image(box, height=box, size="down")
            if (current.width, current.height) == (original.width, original.height) and (
                not untouched
            ):
                variants[role] = EncodedFile(role, *_rest(original))
            else:
                variants[role] = _file(role, current, out_fmt)
        border = border_info(_rgba(current))
        files = (original, variants["thumbnail"], variants["hd"], variants["image"])
        return ProcessedImage(files=files, border=border, temporary=tuple(scratch))


def _file(role: str, image: pyvips.Image, fmt: str) -> EncodedFile:
    data = _encode(image, fmt)
    return EncodedFile(role, data, EXTENSIONS[fmt], CONTENT_TYPES[fmt], image.width, image.height)


def _rest(file: EncodedFile) -> tuple[bytes | Path, str, str, int, int]:
    return file.data, file.ext, file.content_type, file.width, file.height
