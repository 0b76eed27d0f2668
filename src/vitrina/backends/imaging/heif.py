"""HEIC and HEIF input, through pillow-heif (the optional ``vitrina[heic]`` extra).

The libvips in the ``pyvips-binary`` wheel reads a HEIF file's header but has
no HEVC decoder (libheif without libde265, for licensing), so every phone
photo fails there. pillow-heif's wheel bundles libheif with libde265 (and the
x265 encoder, which is GPL: docs/images.md).

- **Header first.** ``header`` reads the primary image's size without
  decoding a pixel; the caller checks the pixel budget on it.
- **Orientation.** libheif applies the container's transforms (``irot``,
  ``imir``, ``clap``) as it decodes, and the size it reports is the
  transformed one. Phones also write the same turn as an EXIF orientation:
  applying both would turn the picture twice, so EXIF is used only when the
  container has no transform of its own.
- **Colour.** An ICC profile is converted to sRGB by the caller, as for any
  format; an NCLX colour description with Display P3 primaries gets the P3
  profile; BT.709/sRGB and unspecified primaries are sRGB already. HDR
  transfer curves (PQ, HLG) are not tone-mapped: the 10-bit values are
  scaled to 8 bits.
- **Damage.** A file cut short is refused before libheif sees it: libheif
  fills a grid image's missing tiles in silently.
- **Many images.** A collection (a burst, a stereo pair, a depth map) gives
  its primary image; alpha is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from vitrina.domain.errors import InvalidImage, UnsupportedImageFormat

EXTRA = "vitrina[heic]"

# NCLX colour primaries (ITU-T H.273) whose pixels are sRGB's, and those libvips has a profile for
_SRGB_PRIMARIES = {1, 2}  # BT.709, unspecified
_PRIMARIES_PROFILE = {12: "p3"}  # SMPTE EG 432 (Display P3)

_MODES = {  # pillow-heif mode -> bands, libvips format, interpretation
    "L": (1, "uchar", "b-w"),
    "I;16": (1, "ushort", "grey16"),
    "I;16L": (1, "ushort", "grey16"),
    "RGB": (3, "uchar", "srgb"),
    "RGBA": (4, "uchar", "srgb"),
    "RGB;16": (3, "ushort", "rgb16"),
    "RGBA;16": (4, "ushort", "rgb16"),
}


@dataclass(frozen=True)
class HeifHeader:
    width: int  # with the container's transforms applied
    height: int
    orientation: int  # the EXIF orientation still to apply (1 when the container turns it)


def _library() -> Any:
    try:
        import pillow_heif  # optional: only HEIC uploads need it
    except ImportError:
        raise UnsupportedImageFormat(
            "HEIC and HEIF images need the optional decoder, which this server does not "
            f"have: install it with pip install '{EXTRA}' (or send JPEG, PNG, WebP or AVIF)"
        ) from None
    return pillow_heif


_PATH = re.compile(r"""(?:[A-Za-z]:)?[\\/][^\s:()"',]*""")


def _message(exc: Exception) -> str:
    """The decoder's first line, with no file system path in it."""
    text = str(exc).strip().splitlines()
    return _PATH.sub("the file", text[0])[:200] if text else type(exc).__name__


def _primary(source: Path) -> Any:
    pillow_heif = _library()
    try:
        container = pillow_heif.open_heif(str(source), convert_hdr_to_8bit=False)
        return container[container.primary_index]
    except MemoryError:
        raise
    except Exception as exc:  # libheif's errors arrive as ValueError, SyntaxError, ...
        raise InvalidImage(f"The uploaded HEIC image cannot be read: {_message(exc)}") from None


def _exif_orientation(image: Any) -> int:
    """The EXIF (or XMP) orientation, when the container has no transform
    of its own; 1 otherwise."""
    transforms = getattr(getattr(image, "_c_image", None), "transformations", None)
    if transforms is None or any(kind in ("irot", "imir") for kind, *_ in transforms):
        return 1  # turned by libheif already (or unknown: never turn twice)
    from pillow_heif import set_orientation  # present: _primary imported it

    info = dict(image.info)  # set_orientation resets it in the copy it is given
    value = set_orientation(info)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _check_complete(source: Path) -> None:
    """Refuse a file whose top-level boxes run past its end (a cut-off
    upload or download). libheif decodes a grid image (every phone photo is
    one) with its missing tiles filled in, and says nothing."""
    size = source.stat().st_size
    with source.open("rb") as stream:
        position = 0
        while position + 8 <= size:
            stream.seek(position)
            head = stream.read(16)
            length = int.from_bytes(head[:4], "big")
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            if length == 0:  # the last box, to the end of the file
                return
            if length < 8:
                break
            if position + length > size:
                raise InvalidImage(
                    f"The uploaded HEIC image is incomplete: it stops at byte {size}, "
                    f"but its data runs to byte {position + length}"
                )
            position += length


def header(source: Path) -> HeifHeader:
    """The primary image's size and remaining orientation, with no decode."""
    _check_complete(source)
    image = _primary(source)
    width, height = image.size
    if image.mode not in _MODES:
        raise InvalidImage(f"The uploaded HEIC image has pixels of an unknown kind ({image.mode})")
    return HeifHeader(int(width), int(height), _exif_orientation(image))


def _profile(image: Any) -> bytes | str | None:
    """The colour profile to convert from: ICC bytes, a libvips profile
    name, or None for sRGB."""
    info = image.info
    icc = info.get("icc_profile")
    if icc:
        return bytes(icc)
    nclx = info.get("nclx_profile") or {}
    primaries = nclx.get("color_primaries", 2)
    if primaries in _SRGB_PRIMARIES:
        return None
    return _PRIMARIES_PROFILE.get(primaries)


def decode(source: Path) -> pyvips.Image:
    """The primary image in full, as libvips pixels (8 or 16 bits, with its
    ICC profile attached), upright."""
    image = _primary(source)
    bands, fmt, interpretation = _MODES.get(image.mode, (0, "", ""))
    if not bands:
        raise InvalidImage(f"The uploaded HEIC image has pixels of an unknown kind ({image.mode})")
    try:
        pixels = np.ascontiguousarray(np.asarray(image))
    except MemoryError:
        raise
    except Exception as exc:  # libheif's errors arrive as ValueError, SyntaxError, ...
        raise InvalidImage(
            f"The uploaded HEIC image is damaged or incomplete: {_message(exc)}"
        ) from None
    width, height = image.size
    vips = pyvips.Image.new_from_memory(pixels.data, width, height, bands, fmt)
    vips = vips.copy(interpretation=interpretation)
    if image.premultiplied_alpha and bands in (2, 4):
        vips = vips.unpremultiply(max_alpha=65535 if fmt == "ushort" else 255).cast(fmt)
    profile = _profile(image)
    if isinstance(profile, bytes):
        vips.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    elif profile is not None:
        vips = vips.icc_transform("srgb", input_profile=profile, intent="perceptual", depth=8)
    orientation = _exif_orientation(image)
    if orientation != 1:
        vips.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        vips = vips.autorot()
    return vips
