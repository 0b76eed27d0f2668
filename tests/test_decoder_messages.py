"""What the image decoder says reaches clients without file paths, and
libvips' own chatter stays at the debug level."""

from __future__ import annotations

import logging

import pytest

from tests import sample_images as images
from tests.conftest import Api


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif" + b"\x00" * 200,
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200,
        images.jpeg(640, 480)[:3000],
    ],
    ids=["avif", "heic", "truncated-jpeg"],
)
def test_decoder_messages_carry_no_file_paths(api: Api, body: bytes) -> None:
    response = api.upload(api.create(), body)
    assert response.status_code == 422, response.text
    message = response.json()["errorMessage"]
    assert "/tmp" not in message and ".upload" not in message and "vitrina-" not in message


def test_libvips_chatter_is_debug_only(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    category_id = api.create()
    with caplog.at_level(logging.INFO):
        api.upload(category_id, images.jpeg(1600, 1200)[:-2000])  # a truncated JPEG warns
        api.upload(category_id, images.phone_jpeg(6, size=(1200, 1600)))
    chatter = [r for r in caplog.records if r.name.startswith("pyvips")]
    assert chatter == []
    with caplog.at_level(logging.DEBUG):
        api.upload(category_id, images.jpeg(1600, 1200)[:-2000])
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("pyvips"))
