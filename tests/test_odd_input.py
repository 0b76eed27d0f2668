"""Odd input is refused with a 400 that names it: numbers spelled oddly in
URLs and bodies, responseFields nested too deep, lone UTF-16 surrogates; and
a path with a trailing slash is a JSON 404, never a redirect."""

from __future__ import annotations

import logging
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


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/categories", {"name": "a\u0000b"}),
        ("POST", "/categories", {"name": "Toys", "description": "\u0000"}),
        ("POST", "/categories", {"name": "Toys", "alt": {"main": "x\u0000"}}),
        ("GET", "/_requests?path=a%00b", None),
        ("GET", "/categories?keyword=a%00", None),
        ("GET", "/categories/1%00", None),
    ],
)
def test_a_nul_character_is_a_400(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """No text vitrina stores or matches may hold U+0000 (PostgreSQL cannot),
    and a request that sends one is answered 400, on every back end."""
    answer = api.request(method, path, json=body) if body else api.request(method, path)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] in ("WRONG_PARAMETER",)


def test_a_nul_in_a_path_does_not_cost_the_store_its_request_log(api: Api) -> None:
    assert api.get("/categories/1%00").status_code == 400
    assert api.get("/profile").status_code == 200
    logged = api.get("/_requests").json()["items"]
    assert [i["path"] for i in logged] == [f"{api.base}/profile", f"{api.base}/categories/1%00"]


@pytest.mark.embedded_only
def test_a_path_cannot_forge_an_access_line(
    settings: Any, services: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The access line writes the path as it was sent (percent-encoded), so
    a ``%0A`` in it cannot start a line of its own, nor ``%1B`` an escape."""
    from starlette.testclient import TestClient

    from vitrina.web.app import create_app

    app = create_app(settings.replace(access_log=True, log_level="info"), services)
    forged = "/api/v3/1/categories%0A2026-12-06%2005:18:46,510%20INFO%20vitrina.access:%20x%1B[2J"
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="vitrina.access"):
        assert client.get(forged).status_code == 404  # no such route: still an access line
        app.state.ctx.access.flush()
    lines = [r.getMessage() for r in caplog.records if r.name == "vitrina.access"]
    assert len(lines) == 1
    assert "%0A2026" in lines[0] and "%1B" in lines[0]
    assert "\n" not in lines[0] and "\x1b" not in lines[0]
