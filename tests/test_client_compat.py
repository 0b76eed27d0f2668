"""Flows the way existing Ecwid clients drive the API, written from Ecwid's documentation:
only the base URL changes."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api


class LegacyClient:
    """Like older PHP and Ruby clients: ?token= on every call, a stray
    Authorization header, limit/offset sent on every GET, profile first."""

    def __init__(self, client: TestClient, store_id: int, token: str) -> None:
        self.client = client
        self.base = f"/api/v3/{store_id}"
        self.token = token

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        params = {"token": self.token, "limit": 100, "offset": 0, **kwargs.pop("params", {})}
        headers = {
            "Authorization": f'Token token="{self.token}"',
            "X-Ecwid-Api-Request-Id": "req-1",
        }
        response = self.client.request(
            method, self.base + path, params=params, headers=headers, **kwargs
        )
        assert response.status_code == 200, response.text
        assert response.content, "clients crash on an empty body"
        return response.json()


def test_a_legacy_client_session(api: Api) -> None:
    client = LegacyClient(api.client, api.store_id, api.token)
    assert client.call("GET", "/profile")["generalInfo"]["storeId"] == api.store_id
    created = client.call("POST", "/categories", json={"name": "Shoes", "enabled": True})
    category_id = created["id"]
    single = client.call("GET", f"/categories/{category_id}")  # stray limit/offset ignored
    assert single["name"] == "Shoes"
    client.call("PUT", f"/categories/{category_id}", json={**single, "name": "Boots"})
    assert client.call("GET", f"/categories/{category_id}")["name"] == "Boots"
    uploaded = client.call(
        "POST", f"/categories/{category_id}/image", content=images.jpeg(500, 500)
    )
    assert client.call("GET", f"/categories/{category_id}")["thumbnail"]["width"] == 400
    assert uploaded["id"] > 0
    assert client.call("DELETE", f"/categories/{category_id}/image") == {"deleteCount": 1}
    assert client.call("DELETE", f"/categories/{category_id}") == {"deleteCount": 1}


def test_java_style_upload_and_paging_until_count_below_limit(api: Api) -> None:
    for i in range(7):
        api.create(name=f"Category {i}")
    seen, offset = [], 0
    while True:
        page = api.get("/categories", params={"offset": offset, "limit": 3}).json()
        seen += [c["id"] for c in page["items"]]
        offset += page["count"]
        if page["count"] < page["limit"]:
            break
    assert len(seen) == 7 == len(set(seen))
    category_id = seen[0]
    response = api.post(
        f"/categories/{category_id}/image",
        content=images.jpeg(300, 300),
        headers={"Content-Type": "application/octet-stream; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert api.category(category_id)["thumbnailUrl"].endswith(f"/{response.json()['id']}.jpg")


def test_put_of_a_fetched_object_with_image_fields_keeps_the_image(api: Api) -> None:
    category_id = api.create(name="Hats")
    api.upload(category_id, images.png(40, 40))
    fetched = api.category(category_id)
    assert (
        api.put(f"/categories/{category_id}", json={**fetched, "name": "Caps"}).status_code == 200
    )
    again = api.category(category_id)
    assert again["name"] == "Caps"
    assert again["thumbnailUrl"] == fetched["thumbnailUrl"]
