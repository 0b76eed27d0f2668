"""Renditions: the source fitted to a size and encoded in a served format,
kept only when it is worth it (vitrina.domain.renditions).

A rendition for AVIF or WebP is the lowest quality whose SSIM against the
source pixels is at least that of the stored format's bytes of the same
size, found by bisection over a quality range in ``PROBES`` encodes, and
kept only when it is no larger than those bytes. When it is larger (or no
quality in the range is close enough), the stored format's bytes are the
rendition. Over a lossless stored format (PNG) the
tries are lossless too (the same pixels, so the SSIM is equal): they win
by size alone.

The ladders and the AVIF effort were chosen by measurement
(``bench/pipeline.py`` prints sizes, SSIM and times per setting): against
JPEG q85, AVIF matches the SSIM at about 55-75% of the size; WebP at
60-95%, and at small sizes often not at all (then browsers get the JPEG).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyvips

_NO_METADATA = pyvips.enums.ForeignKeep.NONE
# libaom's effort 0 (its fastest) makes files within a few per cent of effort 2
# in a third to a fifth of the time; effort 4 (libvips' default) takes seconds
AVIF_EFFORT = 0
WEBP_EFFORT = 1  # as the variants' WebP (vips.py)
# the quality ranges searched (the SSIM of JPEG q85 falls in them) and the
# encodes spent searching: the range halves with each
RANGES = {"avif": (48, 88), "webp": (60, 96)}
PROBES = 3


def encode(image: pyvips.Image, fmt: str, quality: int, lossless: bool = False) -> bytes:
    """``image`` as AVIF or WebP, without metadata."""
    data: bytes
    if fmt == "avif":
        data = image.heifsave_buffer(
            Q=quality, effort=AVIF_EFFORT, compression="av1", lossless=lossless, keep=_NO_METADATA
        )
    else:
        data = image.webpsave_buffer(
            Q=quality, effort=WEBP_EFFORT, lossless=lossless, exact=lossless, keep=_NO_METADATA
        )
    return data


def _luma(image: pyvips.Image) -> Any:
    """Rec. 601 luma as float32 (alpha flattened onto white)."""
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.cast("uchar")
    memory = image.write_to_memory()
    pixels = np.ndarray(
        buffer=memory, dtype=np.uint8, shape=(image.height, image.width, image.bands)
    )
    planes = pixels.astype(np.float32)
    if image.bands < 3:
        return planes[..., 0]
    return planes[..., 0] * 0.299 + planes[..., 1] * 0.587 + planes[..., 2] * 0.114


def ssim(reference: pyvips.Image, other: pyvips.Image, block: int = 8) -> float:
    """Mean SSIM of the luma of two images of one size, over 8 x 8 blocks
    (about 20 ms at 1200 x 900; sliding 7 x 7 windows agree to 0.0005 here
    and take three times as long)."""
    a, b = _luma(reference), _luma(other)
    k = max(1, min(block, a.shape[0], a.shape[1]))
    h, w = a.shape[0] // k * k, a.shape[1] // k * k

    def mean(x: Any) -> Any:
        return x[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3), dtype=np.float64)

    mean_a, mean_b = mean(a), mean(b)
    var_a = mean(a * a) - mean_a**2
    var_b = mean(b * b) - mean_b**2
    cov = mean(a * b) - mean_a * mean_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    value = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)) / (
        (mean_a**2 + mean_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(value.mean())


def decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


def best(image: pyvips.Image, fmt: str, baseline: bytes, lossless: bool) -> bytes | None:
    """``image`` in ``fmt`` when some rung of its ladder is no larger than
    ``baseline`` (the stored format's bytes of the same pixels) and, for a
    lossy baseline, at least as close to ``image``; None when none is."""
    if lossless:
        data = encode(image, fmt, 100, lossless=True)
        return data if len(data) <= len(baseline) else None
    floor = ssim(image, decoded(baseline))
    low, high = RANGES[fmt]
    found: bytes | None = None
    for _ in range(PROBES):
        quality = (low + high) // 2
        data = encode(image, fmt, quality)
        if ssim(image, decoded(data)) >= floor:
            found, high = data, quality  # close enough: try lower
        else:
            low = quality + 1
        if low > high:
            break
    if found is None and low <= RANGES[fmt][1]:
        data = encode(image, fmt, RANGES[fmt][1])  # the top of the range, the last chance
        found = data if ssim(image, decoded(data)) >= floor else None
    return found if found is not None and len(found) <= len(baseline) else None
