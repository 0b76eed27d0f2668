"""Transparent PNGs fitted without a dark (or light) edge.

A product cut-out is an opaque object on pixels with alpha 0, and the colour
of those invisible pixels is whatever the editor left there: often black.
A resize that mixes colours without weighting them by alpha pulls that black
into the object's soft edge, and every storefront then shows a dark halo
around it. Resizing premultiplied (colour times alpha, resized, divided
again) keeps the edge the object's own colour. Checked on the pixels of each
variant, at the size a shop uploads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvips

from tests import sample_images as images
from vitrina.backends.imaging.vips import VipsProcessor

PROCESSOR = VipsProcessor()
SIZE = 2400  # every variant is a reduction, the 400 px one by six


def cut_out(colour: int, background: int) -> bytes:
    """A disc of grey ``colour`` with a sharp (2 px, anti-aliased) edge, on
    pixels of grey ``background`` with alpha 0, as an RGBA PNG."""
    xy = pyvips.Image.xyz(SIZE, SIZE)
    distance = ((xy[0] - SIZE / 2) ** 2 + (xy[1] - SIZE / 2) ** 2) ** 0.5
    alpha = ((SIZE * 0.4 - distance) * (255 / 2)).cast("float")
    alpha = (alpha > 255).ifthenelse(255, (alpha < 0).ifthenelse(0, alpha)).cast("uchar")
    # the invisible pixels carry the background, the visible ones the object
    rgb = (alpha > 0).ifthenelse(colour, background).cast("uchar")
    picture = rgb.bandjoin([rgb, rgb, alpha]).copy(interpretation="srgb")
    data: bytes = picture.pngsave_buffer(compression=1)
    return data


@pytest.fixture
def variants(tmp_path: Path) -> Iterator[Any]:
    made: list[Path] = []

    def run(data: bytes) -> dict[str, Any]:
        source = tmp_path / f"cut-out-{len(made)}.png"
        source.write_bytes(data)
        processed = PROCESSOR.process(source, PROCESSOR.probe(source), 400, 1200, False)
        made.extend(processed.temporary)
        return {
            f.role: images.pixels(f.data if isinstance(f.data, bytes) else f.data.read_bytes())
            for f in processed.files
            if f.role != "original"
        }

    yield run
    for path in made:
        path.unlink(missing_ok=True)


def _edge(pixels: Any) -> Any:
    """The pixels that show at all but are not opaque."""
    alpha = pixels[..., 3]
    return pixels[(alpha > 0) & (alpha < 255)]


def _halo(edge: Any, colour: int, background: int) -> int:
    """How far the edge, laid over any page, is pulled from the object's
    colour toward the invisible pixels' colour, in 0-255 levels. A pixel of
    alpha ``a`` shows ``a/255`` of its own colour, so that share of its
    error counts. Up to 4 levels (under 2%, invisible) is the kernel's small
    undershoot; a resize that ignores alpha shows over 40. (A shift the
    other way is the kernel's ringing at a hard edge, which every sharp
    resize has, inside the picture too.)"""
    toward = np.sign(background - colour)
    error = ((edge[:, :3] - colour) * toward).clip(0).max(axis=1) * edge[:, 3] / 255
    return int(np.ceil(error.max()))


@pytest.mark.parametrize(("colour", "background"), [(255, 0), (0, 255), (200, 30)])
def test_a_cut_outs_edge_keeps_its_colour_in_every_variant(
    variants: Any, colour: int, background: int
) -> None:
    fitted = variants(cut_out(colour, background))
    for role, pixels in fitted.items():
        assert pixels.shape == {"thumbnail": (400,) * 2, "hd": (800,) * 2, "image": (1200,) * 2}[
            role
        ] + (4,)
        edge = _edge(pixels)
        assert len(edge) > 100, role  # the soft edge is there to look at
        worst = _halo(edge, colour, background)
        assert worst <= 4, f"{role}: the edge shows {worst} levels toward {background}"
        assert pixels[0, 0, 3] == 0 and tuple(
            pixels[pixels.shape[0] // 2, pixels.shape[1] // 2]
        ) == (
            colour,
            colour,
            colour,
            255,
        )


def test_a_resize_that_ignores_alpha_would_fail_the_check() -> None:
    """The check above can fail: the same reduction without premultiplying
    darkens the edge of a white disc on transparent black."""
    picture = pyvips.Image.new_from_buffer(cut_out(255, 0), "")
    naive = picture.resize(400 / SIZE, kernel="lanczos3")  # resize itself does not premultiply
    pixels = np.ndarray(
        buffer=naive.write_to_memory(), dtype=np.uint8, shape=(naive.height, naive.width, 4)
    ).astype(int)
    assert _halo(_edge(pixels), 255, 0) > 40
