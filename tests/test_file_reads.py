"""Reading image files: Range headers are ignored (files are small and
immutable), and reads racing a replace get the whole file or a 404."""

from __future__ import annotations

import threading

import pytest

from tests import sample_images as images
from tests.conftest import Api


@pytest.mark.parametrize("value", ["bytes=abc", "bytes=999999-", "bytes=0-1", "lines=1-2"])
def test_range_headers_are_ignored(api: Api, value: str) -> None:
    category_id = api.create()
    api.upload(category_id, images.jpeg(900, 600))
    for field in ("thumbnailUrl", "originalImageUrl"):
        path = api.category(category_id)[field].removeprefix("http://testserver")
        whole = api.client.get(path)
        response = api.client.get(path, headers={"Range": value})
        assert response.status_code == 200
        assert response.content == whole.content
        assert response.headers["accept-ranges"] == "none"


@pytest.mark.embedded_only
def test_reads_racing_a_replace_get_the_whole_file_or_404(api: Api) -> None:
    """One thread replaces a category's image again and again while others
    read the current files: every read is a whole image or a 404."""
    category_id = api.create()
    bodies = [images.phone_jpeg(1, profile=None, size=(1600, 1200)), images.png(900, 700)]
    api.upload(category_id, bodies[0])
    stop = threading.Event()
    outcomes: dict[str, int] = {}
    problems: list[str] = []

    def replace() -> None:
        for round_ in range(12):
            api.upload(category_id, bodies[round_ % 2])
        stop.set()

    def read() -> None:
        while not stop.is_set():
            data = api.category(category_id)
            for field in ("thumbnailUrl", "originalImageUrl"):
                response = api.client.get(data[field].removeprefix("http://testserver"))
                key = str(response.status_code)
                outcomes[key] = outcomes.get(key, 0) + 1
                if response.status_code == 200:
                    try:
                        images.decode(response.content)
                    except Exception as exc:
                        problems.append(f"{field}: {exc}")
                elif response.status_code != 404:
                    problems.append(f"{field}: {response.status_code} {response.text[:100]}")

    threads = [threading.Thread(target=replace)] + [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not problems, problems[:5]
    assert outcomes.get("200", 0) > 0
