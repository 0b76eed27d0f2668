"""Test images, made here with Pillow and numpy, never downloaded."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def gradient(width: int, height: int, alpha: bool = False) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    channels = [x, y, np.full_like(x, 128)]
    if alpha:
        channels.append(np.where(x > 127, 255, 0).astype(np.float32))
    array = np.stack(channels, axis=2).astype(np.uint8)
    return Image.fromarray(array, "RGBA" if alpha else "RGB")


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg(
    width: int = 640, height: int = 480, orientation: int | None = None, **options: Any
) -> bytes:
    image = gradient(width, height)
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    return encode(image, "JPEG", quality=90, **options)


def marked_jpeg(orientation: int) -> bytes:
    """A 300x200 picture whose top-left corner is red, stored so that a viewer
    applying ``orientation`` shows it upright."""
    upright = Image.new("RGB", (300, 200), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 60, 60))
    # The inverse of what each orientation asks a viewer to do.
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright.transpose(inverse) if inverse is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def png(width: int = 320, height: int = 240, alpha: bool = False) -> bytes:
    return encode(gradient(width, height, alpha), "PNG")


def webp(width: int = 320, height: int = 240, alpha: bool = False) -> bytes:
    return encode(gradient(width, height, alpha), "WEBP", quality=90)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 80), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def transparent_gif() -> bytes:
    image = Image.new("P", (100, 100), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (25, 25, 75, 75))
    return encode(image, "GIF", transparency=0)


def vips_profiled(colour: tuple[int, int, int], profile: str, fmt: str = ".jpg") -> bytes:
    """A flat sRGB ``colour`` converted by LittleCMS (through libvips) into
    ``profile`` ("cmyk" or "p3"), with that profile embedded."""
    import pyvips

    flat = pyvips.Image.black(200, 100, bands=3).new_from_image(list(colour))
    flat = flat.copy(interpretation="srgb").cast("uchar")
    converted = flat.icc_transform(profile, input_profile="srgb", embedded=False)
    data: bytes = converted.write_to_buffer(fmt, Q=95)
    return data


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims enormous dimensions: the header of a pixel bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
