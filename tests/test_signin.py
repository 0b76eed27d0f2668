"""The console's sign-in: a link's single-use code exchanged at
POST /console/session for a session token with the link's scopes that
expires (docs/console.md, docs/differences.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Api, make_store, migrated
from vitrina.bootstrap import Services
from vitrina.settings import Settings
from vitrina.usecases.tokens import create_signin_code, token_hash
from vitrina.web.app import create_app


def _code(services: Services, store_id: int, scopes: str = "read_catalog") -> str:
    return create_signin_code(services.metadata, store_id, frozenset(scopes.split(",")), 600)


def _exchange(client: TestClient, store_id: Any, code: Any) -> Any:
    return client.post("/console/session", json={"storeId": store_id, "code": code})


def _refusal(answer: Any) -> str:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert set(body) == {"errorMessage", "errorCode"}
    assert body["errorCode"] == "INVALID_SIGNIN_CODE"
    message: str = body["errorMessage"]
    return message


def test_a_code_opens_a_session_with_the_links_scopes(services: Services, api: Api) -> None:
    code = _code(services, api.store_id, "read_catalog")
    answer = _exchange(api.client, api.store_id, code)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    session = answer.json()
    assert set(session) == {"storeId", "token", "scopes", "expiresAt"}
    assert session["storeId"] == api.store_id and session["scopes"] == ["read_catalog"]
    token = session["token"]
    assert token.startswith("secret_") and token not in (code, api.token)
    expires = datetime.fromisoformat(session["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)
    reader = Api(api.client, api.store_id, token)
    assert reader.get("/categories").status_code == 200
    assert reader.get("/_token").json() == {
        "storeId": api.store_id,
        "scopes": ["read_catalog"],
        "public": False,
    }
    refused = reader.post("/categories", json={"name": "Toys"})
    assert refused.status_code == 403 and refused.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"
    assert services.engine is not None
    with services.engine.connect() as conn:
        rows = "\n".join(
            str(row)
            for table in ("tokens", "signin_codes")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")  # noqa: S608 -- fixed names
        )
    assert code not in rows and token not in rows
    assert token_hash(code) in rows and token_hash(token) in rows


def test_a_second_use_is_refused_and_ends_the_first_session(services: Services, api: Api) -> None:
    code = _code(services, api.store_id, "read_catalog,create_catalog,update_catalog")
    first = _exchange(api.client, api.store_id, code).json()["token"]
    session = Api(api.client, api.store_id, first)
    assert session.get("/categories").status_code == 200
    message = _refusal(_exchange(api.client, api.store_id, code))
    assert "already been used" in message
    assert f"vitrina console-link --store {api.store_id}" in message
    time.sleep(2.1)  # the server's token cache (web/caches.py TOKEN_TTL) forgets it
    ended = session.get("/categories")
    assert ended.status_code == 403 and ended.json()["errorCode"] == "INVALID_API_TOKEN"
    assert api.get("/categories").status_code == 200  # the long-lived token is untouched


def test_expired_unknown_and_foreign_codes_are_refused(
    services: Services, client: TestClient
) -> None:
    shop = make_store(services, client)
    other = make_store(services, client)
    stale = "stale-code-for-this-test"
    services.metadata.signins.add_code(
        shop.store_id,
        token_hash(stale),
        frozenset({"read_catalog"}),
        datetime.now(UTC) - timedelta(seconds=1),
    )
    assert "has expired" in _refusal(_exchange(client, shop.store_id, stale))
    assert "not valid for store" in _refusal(_exchange(client, shop.store_id, "no-such-code"))
    assert "not valid" in _refusal(_exchange(client, shop.store_id, "x" * 500))
    # a link whose store was changed: refused, and the code still works for its own store
    code = _code(services, shop.store_id)
    assert "not valid for store" in _refusal(_exchange(client, other.store_id, code))
    assert _exchange(client, shop.store_id, code).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"storeId": 1}, 400),
        ({"storeId": 1, "code": ""}, 400),
        ({"storeId": 1, "code": 7}, 400),
        ({"storeId": "one", "code": "abc"}, 400),
        ({"storeId": 0, "code": "abc"}, 400),
        ({"storeId": True, "code": "abc"}, 400),
        ({"code": "abc"}, 400),
    ],
)
def test_bad_bodies_are_400(client: TestClient, body: dict[str, Any], status: int) -> None:
    answer = client.post("/console/session", json=body)
    assert answer.status_code == status
    assert answer.json()["errorCode"] == "WRONG_PARAMETER"


def test_the_body_must_be_json(client: TestClient) -> None:
    answer = client.post("/console/session", content=b"storeId=1&code=abc")
    assert answer.status_code == 415


def test_a_session_stops_working_at_its_expiry_even_while_cached(settings: Settings) -> None:
    services = migrated(settings.replace(console_session_seconds=1))
    with (
        services,
        TestClient(create_app(services.settings, services), base_url="http://testserver") as client,
    ):
        shop = make_store(services, client)
        answer = _exchange(client, shop.store_id, _code(services, shop.store_id))
        session = Api(client, shop.store_id, answer.json()["token"])
        assert session.get("/categories").status_code == 200  # now in the token cache
        time.sleep(1.1)
        for _ in range(2):  # from the cache (2 s), then from the database
            refused = session.get("/categories")
            assert refused.status_code == 403
            assert refused.json() == {
                "errorMessage": "API token is missing, unknown or revoked, or belongs to "
                "another store",
                "errorCode": "INVALID_API_TOKEN",
            }
            time.sleep(2.1)
        assert shop.get("/categories").status_code == 200
