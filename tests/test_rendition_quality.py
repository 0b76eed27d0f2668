"""A rendition is never larger than the stored file of its size, nor further
from the source pixels (SSIM), and it is upright and in sRGB as the variants
are: checked on a phone photo at its real size (docs/images.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from tests import sample_images as images
from vitrina.backends.imaging.renditions import ssim
from vitrina.backends.imaging.vips import VipsProcessor, fitted


def _decoded(data: bytes | Path) -> pyvips.Image:
    assert isinstance(data, bytes)
    return pyvips.Image.new_from_buffer(data, "").copy_memory()


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("phone") / "phone.jpg"
    path.write_bytes(images.phone_jpeg())  # 4032x3024, orientation 6, Display P3
    return path


@pytest.mark.parametrize("fmt", ["avif", "webp"])
def test_never_larger_never_further_from_the_source(phone: Path, fmt: str) -> None:
    processor = VipsProcessor()
    header = processor.probe(phone)
    processed = processor.process(phone, header, 400, 1200, keep_original=False)
    for scratch in processed.temporary:
        scratch.unlink(missing_ok=True)
    chosen = []
    for variant in processed.files[1:]:
        assert isinstance(variant.data, bytes)  # variants are encoded in memory
        made = processor.render(phone, variant.width, variant.height, fmt, variant.data)
        source = fitted(phone, header, variant.width, variant.height)
        stored, served = _decoded(variant.data), _decoded(made.data)
        assert (served.width, served.height) == (variant.width, variant.height)
        assert served.height > served.width  # shown upright, as the variant is
        assert made.size <= variant.size
        assert ssim(source, served) >= ssim(source, stored) - 1e-9
        chosen.append(made.content_type)
    if fmt == "avif":  # a photo is where AVIF pays: every size gets it
        assert chosen == ["image/avif"] * 3


def test_a_width_of_a_phone_photo_is_upright(phone: Path) -> None:
    made = VipsProcessor().render(phone, 480, 640, "avif")
    shown = _decoded(made.data)
    assert (shown.width, shown.height) == (480, 640)
    assert made.content_type == "image/avif"
    top_left = shown.crop(0, 0, 40, 40).avg()
    red = shown.crop(0, 0, 40, 40)[0].avg()
    assert red > 150 and red > top_left  # the red marker is at the top left once upright
