"""Operations run in process, without HTTP (web/operation.py: Table.find and
Table.invoke, what batch requests build on): the same answer as the HTTP
call, byte for byte, errors included, with the caller's store, scopes and
rate limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from vitrina.bootstrap import Services
from vitrina.usecases.tokens import token_hash
from vitrina.web.api import TABLE
from vitrina.web.auth import Caller


def _caller(services: Services, api: Api) -> Caller:
    store = services.metadata.stores.get_store(api.store_id)
    token = services.metadata.stores.find_token(token_hash(api.token))
    assert store is not None and token is not None
    return Caller(store=store, token=token, key=token_hash(api.token))


def _invoke(
    client: TestClient, caller: Caller, method: str, target: str, body: Any = None
) -> tuple[int, bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    app = client.app
    assert isinstance(app, Starlette)

    async def run() -> tuple[int, bytes]:
        return await TABLE.invoke(app, caller, method, target, data)

    assert client.portal is not None  # the app's event loop, inside the client's context
    return client.portal.call(run)


def test_find_names_the_operation_and_its_path_parameters() -> None:
    found = TABLE.find("get", "/api/v3/7/categories/12")
    assert found is not None
    operation, params = found
    assert operation.operation_id == "getCategory"
    assert params == {"storeId": "7", "categoryId": "12"}
    assert TABLE.find("PATCH", "/api/v3/7/categories/12") is None
    assert TABLE.find("GET", "/api/v3/7/nothing") is None


@pytest.mark.parametrize(
    "target",
    [
        "/categories/{category}",
        "/categories/{category}?responseFields=id,name&lang=en",
        "/categories?keyword=toy&limit=5",
        "/categoriesByPath?path=Toys",
        "/profile",
        "/categories/424242",
        "/categories/abc",
        "/categories?limit=&offset=1",
        "/categories?hidden_categories=maybe",
        "/_requests?limit=5000000000000000000000",
    ],
)
def test_a_read_answers_as_over_http(
    services: Services, client: TestClient, api: Api, target: str
) -> None:
    category = api.create(name="Toys", productIds=[1, 2])
    path = target.format(category=category)
    over_http = api.get(path)
    status, body = _invoke(client, _caller(services, api), "GET", api.base + path)
    assert status == over_http.status_code
    assert json.loads(body) == over_http.json()


def test_a_write_in_process_is_seen_over_http(
    services: Services, client: TestClient, api: Api
) -> None:
    caller = _caller(services, api)
    status, body = _invoke(client, caller, "POST", f"{api.base}/categories", {"name": "Kites"})
    assert status == 200
    created = json.loads(body)["id"]
    assert api.category(created)["name"] == "Kites"
    status, body = _invoke(
        client, caller, "PUT", f"{api.base}/categories/{created}", {"name": "x" * 256}
    )
    assert (status, json.loads(body)["errorCode"]) == (409, "CONSTRAINT_VIOLATION")
    status, _ = _invoke(client, caller, "DELETE", f"{api.base}/categories/{created}")
    assert status == 200
    assert api.get(f"/categories/{created}").status_code == 404


def test_the_callers_store_and_scopes_still_apply(
    services: Services, client: TestClient, api: Api
) -> None:
    reader = make_store(services, client, scopes="read_catalog", name="Reader")
    caller = _caller(services, reader)
    status, body = _invoke(client, caller, "POST", f"{reader.base}/categories", {"name": "No"})
    assert (status, json.loads(body)["errorCode"]) == (403, "INSUFFICIENT_APP_SCOPE")
    status, body = _invoke(client, caller, "GET", f"{api.base}/profile")  # another store
    assert (status, json.loads(body)["errorCode"]) == (403, "INVALID_API_TOKEN")
    status, body = _invoke(client, caller, "GET", f"{reader.base}/nothing/here")
    assert (status, json.loads(body)["errorCode"]) == (404, "NOT_FOUND")
