"""Odd input is refused with a 400 that names it: numbers spelled oddly in
URLs and bodies, responseFields nested too deep, lone UTF-16 surrogates; and
a path with a trailing slash is a JSON 404, never a redirect."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


@pytest.mark.parametrize(
    "path",
    [
        "/api/v3/--1/categories",
        "/api/v3/1/categories?offset=--1",
        "/api/v3/1/categories?parentIds=--1",
        "/api/v3/1/categories?limit=²",
        "/api/v3/1/categories/--1",
        "/images/--1/1.jpg",
        "/images/1/--1.jpg",
        "/images/1/².jpg",
    ],
)
def test_odd_numbers_in_urls_are_400(api: Api, path: str) -> None:
    method = "GET"
    response = api.client.request(method, path, headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "WRONG_PARAMETER"
    deleted = api.client.delete(
        "/api/v3/1/categories/--1", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert deleted.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "orderBy": "²"},
        {"name": "x", "productIds": ["--1"]},
        {"name": "x", "parentId": "\u0661"},
    ],
)
def test_odd_numbers_in_json_are_400(api: Api, body: dict[str, Any]) -> None:
    response = api.post("/categories", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "WRONG_PARAMETER"


def test_odd_numbers_in_async_uploads_are_400(api: Api) -> None:
    category_id = api.create()
    response = api.post(
        f"/categories/{category_id}/image/async",
        json={"url": "https://images.example.com/a.jpg", "width": "--1", "height": 10},
    )
    assert response.status_code == 400, response.text
    assert "width" in response.json()["errorMessage"]


# -- deep responseFields, lone surrogates -----------------------------------------


def test_deeply_nested_response_fields_are_400(api: Api) -> None:
    category_id = api.create()
    deep = "a(" * 2000 + ")" * 2000
    for path in (f"/categories/{category_id}", "/categories"):
        response = api.get(path, params={"responseFields": deep})
        assert response.status_code == 400, response.text
        assert "levels deep" in response.json()["errorMessage"]
    fine = api.get("/categories", params={"responseFields": "total,items(id,name)"})
    assert fine.status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/categories", b'{"name": "\\ud800"}'),
        ("/categories", b'{"name": "ok", "nameTranslated": {"fr": "\\udfff"}}'),
        (
            "/categories/{id}/image/async",
            b'{"url": "https://images.example.com/a.jpg", "width": 1, "height": 1, '
            b'"externalId": "\\ud800"}',
        ),
    ],
)
def test_a_lone_surrogate_is_400(api: Api, path: str, body: bytes) -> None:
    category_id = api.create()
    response = api.post(
        path.format(id=category_id), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "surrogate" in response.json()["errorMessage"]


# -- no slash redirects ------------------------------------------------------------


def test_a_trailing_slash_is_a_json_404_never_a_redirect(api: Api) -> None:
    response = api.client.get(
        f"/api/v3/{api.store_id}/categories/?token={api.token}",
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert response.json()["errorCode"] == "NOT_FOUND"
    assert "location" not in response.headers
    assert api.token not in response.text
