"""A store of 100,000 categories works: get, search, keyword search, a write
and the read right after it, through HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from vitrina.bootstrap import Services
from vitrina.domain.values import CategoryChanges

pytestmark = [pytest.mark.slow, pytest.mark.embedded_only]


def test_a_hundred_thousand_categories(services: Services, api: Api) -> None:
    catalog = services.metadata.catalog
    ids: list[int] = []
    while len(ids) < 100_000:
        [parent], _ = catalog.create_categories(
            api.store_id, [CategoryChanges(name=f"Department {len(ids)}")]
        )
        rows = [CategoryChanges(name=f"Shelf {len(ids) + n}", parent_id=parent) for n in range(999)]
        ids += [parent, *catalog.create_categories(api.store_id, rows)[0]]
    catalog.update_category(api.store_id, ids[54_321], CategoryChanges(description="the needle"))

    middle = api.category(ids[50_001])
    assert middle["name"] == "Shelf 50000"
    page = api.get("/categories", params={"parent": ids[50_000]}).json()
    assert page["total"] == 999 and page["count"] == 100
    everything = api.get("/categories", params={"offset": 99_950}).json()
    assert everything["total"] == 100_000 and everything["count"] == 50
    found = api.get("/categories", params={"keyword": "NEEDLE"}).json()
    assert [c["id"] for c in found["items"]] == [ids[54_321]]

    assert api.put(f"/categories/{ids[7]}", json={"name": "Renamed"}).status_code == 200
    assert api.category(ids[7])["name"] == "Renamed"
    moved = api.put(f"/categories/{ids[99_999]}", json={"parentId": ids[0]})
    assert moved.status_code == 200
    assert api.category(ids[0])["productCount"] == 0
    children = api.get("/categories", params={"parent": ids[0], "limit": 1000}).json()
    assert children["total"] == 1000
    assert api.delete(f"/categories/{ids[1000]}").json() == {"deleteCount": 1}
    after = api.get("/categories", params={"limit": 1}).json()
    assert after["total"] == 100_000 - 1000
