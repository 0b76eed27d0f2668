"""Tokens, scopes and the rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from vitrina.bootstrap import Services
from vitrina.domain.errors import InvalidToken
from vitrina.domain.values import SCOPES, TokenInfo
from vitrina.settings import Settings
from vitrina.usecases.tokens import create_token, token_hash
from vitrina.web import caches
from vitrina.web.app import create_app
from vitrina.web.auth import Authenticator, Caller


def test_bearer_and_query_tokens(api: Api) -> None:
    path = f"/api/v3/{api.store_id}/categories"
    assert api.client.get(path, headers={"Authorization": f"Bearer {api.token}"}).status_code == 200
    assert api.client.get(path, params={"token": api.token}).status_code == 200
    response = api.client.get(path)
    assert response.status_code == 403
    assert response.json()["errorCode"] == "INVALID_API_TOKEN"


def test_a_non_bearer_header_beside_a_query_token_is_ignored(api: Api) -> None:
    response = api.client.get(
        f"/api/v3/{api.store_id}/categories",
        params={"token": api.token},
        headers={"Authorization": 'Token token="whatever"', "X-Ecwid-Api-Request-Id": "abc"},
    )
    assert response.status_code == 200


def test_query_tokens_can_be_switched_off(settings: Settings, services: Services) -> None:
    with TestClient(create_app(settings.replace(allow_query_token=False), services)) as client:
        api = make_store(services, client)
        path = f"/api/v3/{api.store_id}/categories"
        assert client.get(path, params={"token": api.token}).status_code == 403
        assert client.get(path, headers={"Authorization": f"Bearer {api.token}"}).status_code == 200


def test_unknown_revoked_and_foreign_tokens(
    services: Services, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caches, "TOKEN_TTL", 0.3)
    mine, theirs = make_store(services, client), make_store(services, client)
    assert (
        client.get(
            f"/api/v3/{mine.store_id}/categories", params={"token": "secret_nope"}
        ).status_code
        == 403
    )
    response = client.get(f"/api/v3/{mine.store_id}/categories", params={"token": theirs.token})
    assert response.status_code == 403 and response.json()["errorCode"] == "INVALID_API_TOKEN"
    theirs_category = theirs.create(name="Private")
    response = client.get(
        f"/api/v3/{mine.store_id}/categories/{theirs_category}", params={"token": mine.token}
    )
    assert response.status_code == 404  # another store's category does not exist for us
    assert services.metadata.stores.revoke_token(token_hash(mine.token))
    time.sleep(0.35)  # a revocation reaches every process within the token cache's lifetime
    assert mine.get("/categories").status_code == 403


def test_scopes(services: Services, client: TestClient) -> None:
    reader = make_store(services, client, scopes="read_catalog")
    assert reader.get("/categories").status_code == 200
    response = reader.post("/categories", json={"name": "X"})
    assert response.status_code == 403
    assert response.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"
    assert "create_catalog" in response.json()["errorMessage"]
    creator = make_store(services, client, scopes="create_catalog")
    category_id = creator.create(name="X")
    for response in (
        creator.put(f"/categories/{category_id}", json={"name": "Y"}),
        creator.delete(f"/categories/{category_id}"),
        creator.delete(f"/categories/{category_id}/image"),
        creator.post(f"/categories/{category_id}/image", content=b"x"),
        creator.get(f"/categories/{category_id}"),
    ):
        assert response.status_code == 403
        assert response.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"
    assert creator.get("/profile").status_code == 200  # any valid token


def test_public_tokens_see_enabled_categories_only(services: Services, client: TestClient) -> None:
    owner = make_store(services, client)
    store = services.metadata.stores.get_store(owner.store_id)
    assert store is not None
    from vitrina.usecases.tokens import create_token

    token, _ = create_token(services.metadata, store.id, frozenset({"read_catalog"}), public=True)
    assert token.startswith("public_")
    public = type(owner)(client, store.id, token)
    shown = owner.create(name="Shown")
    hidden = owner.create(name="Hidden", enabled=False)
    assert public.get(f"/categories/{shown}").status_code == 200
    assert public.get(f"/categories/{hidden}").status_code == 404
    items = public.get("/categories", params={"hidden_categories": "true"}).json()["items"]
    assert [c["id"] for c in items] == [shown]
    assert public.post("/categories", json={"name": "X"}).status_code == 403


def test_rate_limit_answers_429_with_retry_after(settings: Settings, services: Services) -> None:
    app = create_app(settings.replace(rate_limit_per_minute=3), services)
    app.state.ctx.auth.limiter.clock = lambda: 1_800_000_015.0  # mid-window, always
    with TestClient(app) as client:
        api = make_store(services, client)
        codes = [api.get("/categories").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        response = api.get("/categories")
        assert response.json()["errorCode"] == "RATE_LIMITED"
        assert response.headers["Retry-After"] == "45"
        other = make_store(services, client)
        assert other.get("/categories").status_code == 200  # counted per token


def test_tokens_are_stored_only_as_hashes(services: Services, api: Api) -> None:
    assert services.engine is not None
    with services.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM tokens"))
    assert api.token not in dump
    assert token_hash(api.token) in dump


def test_requests_that_miss_the_token_cache_together_share_one_lookup(
    settings: Settings, services: Services
) -> None:
    """A busy token's cache entry expires with dozens of its requests in
    flight: they wait for one lookup, not one thread and connection each."""
    store = services.metadata.stores.create_store("Shop", "https://shop.example.com").id
    token, _ = create_token(services.metadata, store, frozenset(SCOPES))
    auth = Authenticator(services.metadata, settings.replace(rate_limit_per_minute=0))
    looked_up = []
    find_token = services.metadata.stores.find_token

    def counted(hashed: str) -> TokenInfo | None:
        looked_up.append(hashed)
        time.sleep(0.05)  # a lookup over the network takes a while
        return find_token(hashed)

    services.metadata.stores.find_token = counted  # type: ignore[method-assign,assignment]
    request = Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})

    async def burst(store_id: int) -> list[Caller | BaseException]:
        return await asyncio.gather(
            *(auth.require(request, store_id, "read_catalog") for _ in range(30)),
            return_exceptions=True,
        )

    callers = asyncio.run(burst(store))
    assert len(looked_up) == 1
    assert {c.store.id for c in callers if isinstance(c, Caller)} == {store} and len(callers) == 30
    foreign = asyncio.run(burst(store + 1))  # the token is another store's: from the cache
    assert all(isinstance(a, InvalidToken) for a in foreign) and len(looked_up) == 1


def test_an_unknown_token_is_remembered_briefly(
    services: Services, client: TestClient, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that keeps sending a wrong token costs one lookup per
    TOKEN_TTL, not one per request: a token that appears in the database
    meanwhile is seen only once the refusal is forgotten."""
    monkeypatch.setattr(caches, "TOKEN_TTL", 0.5)
    token = "secret_" + "k" * 32
    late = Api(client, api.store_id, token)
    assert late.get("/profile").status_code == 403
    services.metadata.stores.add_token(
        api.store_id, token_hash(token), "secret", frozenset(SCOPES), token[:12]
    )
    assert late.get("/profile").status_code == 403  # the refusal is remembered
    time.sleep(0.6)
    assert late.get("/profile").status_code == 200
