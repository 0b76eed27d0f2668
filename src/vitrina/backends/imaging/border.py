"""``borderInfo``: the colour of an image's frame, as docs/differences.md defines it.

Take a frame 2% of the shorter side thick (at least one pixel); quantise each
channel to steps of 8; the most frequent bin wins and is reported as the mean
of its pixels; the frame is homogeneous when 90% of it lies within 24 (max
over channels) of that colour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def border_info(rgba: npt.NDArray[np.uint8]) -> dict[str, Any]:
    """``rgba`` is a height x width x 4 array."""
    height, width = rgba.shape[:2]
    thick = max(1, round(min(width, height) * 0.02))
    mask = np.zeros((height, width), dtype=bool)
    mask[:thick, :] = mask[-thick:, :] = True
    mask[:, :thick] = mask[:, -thick:] = True
    frame = rgba[mask].astype(np.int32)
    quantised = frame >> 3
    keys = (
        (quantised[:, 0] << 15)
        | (quantised[:, 1] << 10)
        | (quantised[:, 2] << 5)
        | (quantised[:, 3])
    )
    winner = np.bincount(keys).argmax()
    colour = np.rint(frame[keys == winner].mean(axis=0)).astype(np.int32)
    near = np.abs(frame - colour).max(axis=1) <= 24
    red, green, blue, alpha = (int(v) for v in colour)
    return {
        "dominatingColor": {"red": red, "green": green, "blue": blue, "alpha": alpha},
        "homogeneity": bool(near.mean() >= 0.9),
    }
