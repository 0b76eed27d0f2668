"""The cache of rendered answers is capped by bytes, however many distinct
reads arrive."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from vitrina.web.caches import BytesCache


def test_rendered_answers_are_capped_by_bytes() -> None:
    cache = BytesCache(capacity=1000, largest=300)
    for number in range(50):
        cache.put(number, b"x" * 200)
    assert cache.size <= 1000 and cache.get(49) == b"x" * 200 and cache.get(0) is None
    cache.put("big", b"y" * 301)
    assert cache.get("big") is None


@pytest.mark.embedded_only
def test_many_distinct_reads_of_a_large_category_stay_within_the_cap(api: Api, client: Any) -> None:
    rendered: BytesCache = client.app.state.ctx.rendered
    rendered.capacity, rendered.largest = 200_000, 150_000
    big = api.create(name="Big", description="d" * 60_000, productIds=list(range(1, 5000)))
    public = api.get(f"/categories/{big}")
    assert public.status_code == 200 and len(public.content) > 60_000
    for number in range(60):
        response = api.get(f"/categories/{big}", params={"baseUrl": f"https://s{number}.example"})
        assert response.status_code == 200
        assert f"https://s{number}.example" in response.json()["url"]
    assert rendered.size <= 200_000
