"""The request log: every API request to a store, without tokens or bodies,
bounded per store, served at /_requests; and the console's other helpers
(/_token, /_jobs/{imageId})."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.testclient import TestClient

from tests import sample_images as images
from tests.conftest import Api, make_store
from vitrina.backends.metadata.sql_requests import SqlRequestLog
from vitrina.bootstrap import Services
from vitrina.domain.values import REQUESTS_KEPT, RequestRecord
from vitrina.usecases.tokens import create_token


def _log(api: Api, **params: object) -> list[dict[str, object]]:
    response = api.get("/_requests", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_requests_are_recorded_newest_first_without_tokens(api: Api) -> None:
    category = api.create(name="Toys")
    photo = images.phone_jpeg()
    assert api.upload(category, photo).status_code == 200
    assert api.get("/categories/999999").status_code == 404
    by_query = api.client.get(
        f"{api.base}/categories?keyword=Toys&%74oken={api.token}&limit=5&token={api.token}"
        "&responseFields=items(id,name)"
    )
    assert by_query.status_code == 200

    items = _log(api)
    assert [(i["method"], i["path"], i["status"]) for i in items] == [
        ("GET", f"{api.base}/categories", 200),
        ("GET", f"{api.base}/categories/999999", 404),
        ("POST", f"{api.base}/categories/{category}/image", 200),
        ("POST", f"{api.base}/categories", 200),
    ]
    assert items[0]["query"] == "keyword=Toys&limit=5&responseFields=items(id,name)"
    assert items[1]["errorCode"] == "CATEGORY_NOT_FOUND"
    assert "errorCode" not in items[0]
    assert all(float(str(i["durationMs"])) >= 0 for i in items)
    assert datetime.fromisoformat(str(items[0]["time"])).tzinfo is not None
    everything = api.get("/_requests").text
    assert api.token not in everything and api.token[-8:] not in everything


def test_filters_and_polling(api: Api) -> None:
    api.create(name="A")
    api.get("/categories/424242")
    first = _log(api)
    assert [i["status"] for i in _log(api, status="4xx")] == [404]
    assert [i["status"] for i in _log(api, status="2xx")] == [200]
    assert [i["path"] for i in _log(api, path="424242")] == [f"{api.base}/categories/424242"]
    newest = int(str(first[0]["id"]))
    assert _log(api, after=newest) == []
    api.get("/profile")
    assert [i["path"] for i in _log(api, after=newest)] == [f"{api.base}/profile"]
    assert api.get("/_requests", params={"status": "6xx"}).status_code == 400


def test_the_log_needs_a_secret_token_and_stays_per_store(
    services: Services, client: TestClient, api: Api
) -> None:
    other = make_store(services, client, name="Other")
    other.create(name="Theirs")
    public = make_store(services, client, scopes="read_catalog", public=True)
    refused = public.get("/_requests")
    assert refused.status_code == 403
    assert "secret token" in refused.json()["errorMessage"]
    assert [i["path"] for i in _log(api)] == []
    assert len(_log(other)) == 1
    reader = make_store(services, client, scopes="read_catalog")
    assert reader.get("/_requests").status_code == 200


def test_requests_to_unknown_stores_are_not_kept(services: Services, api: Api) -> None:
    api.client.get("/api/v3/987654/categories", headers={"Authorization": "Bearer nope"})
    api.create(name="Mine")
    _log(api)  # flushes
    assert services.metadata.requests.recent(987654) == []


def test_the_log_keeps_the_last_thousand_per_store(services: Services, api: Api) -> None:
    stamp = datetime.now(UTC)

    def batch(n: int, start: int) -> list[RequestRecord]:
        return [
            RequestRecord(api.store_id, stamp, "GET", f"/p/{start + i}", "", 200, 1.0)
            for i in range(n)
        ]

    log = services.metadata.requests
    for start in range(0, 1200, 300):
        log.record(batch(300, start))
    kept = log.recent(api.store_id, limit=5000)
    assert len(kept) == REQUESTS_KEPT
    assert kept[0].path == "/p/1199" and kept[-1].path == "/p/200"
    small = SqlRequestLog(log.db, keep=3)  # type: ignore[attr-defined]
    small.record(batch(2, 5000))
    assert [r.path for r in log.recent(api.store_id, limit=10)] == ["/p/5001", "/p/5000", "/p/1199"]


def test_token_scopes(services: Services, client: TestClient, api: Api) -> None:
    mine = api.get("/_token").json()
    assert mine == {
        "storeId": api.store_id,
        "scopes": ["create_catalog", "read_catalog", "update_catalog"],
        "public": False,
    }
    public = make_store(services, client, scopes="read_catalog", public=True)
    assert public.get("/_token").json()["public"] is True
    assert api.client.get(f"/api/v3/{api.store_id}/_token").status_code == 403


def test_async_job_state(api: Api) -> None:
    category = api.create(name="Later")
    started = api.post(
        f"/categories/{category}/image/async",
        json={"url": "https://images.example/toy.jpg", "width": 800, "height": 600},
    )
    assert started.status_code == 200, started.text
    job = api.get(f"/_jobs/{started.json()['id']}").json()
    assert job["state"] == "queued"
    assert job["categoryId"] == category
    assert job["url"] == "https://images.example/toy.jpg"
    assert "error" not in job
    missing = api.get("/_jobs/123456789")
    assert missing.status_code == 404
    assert "123456789" in missing.json()["errorMessage"]


def test_a_public_token_reads_no_job(services: Services, client: TestClient, api: Api) -> None:
    """A job names its source URL (perhaps a signed one), and its category
    may be hidden from public tokens: the state of a job needs a secret token."""
    hidden = api.create(name="Not yet", enabled=False)
    started = api.post(
        f"/categories/{hidden}/image/async",
        json={"url": "https://images.example/toy.jpg?sig=abc", "width": 800, "height": 600},
    )
    public = Api(client, api.store_id, create_token(services.metadata, api.store_id,
                 frozenset({"read_catalog"}), public=True)[0])  # fmt: skip
    refused = public.get(f"/_jobs/{started.json()['id']}")
    assert refused.status_code == 403
    assert "secret token" in refused.json()["errorMessage"]
    assert "images.example" not in refused.text


def test_urls_in_the_query_are_recorded_without_credentials(api: Api) -> None:
    category = api.create(name="Toys")
    signed = (
        "https://photographer:hunter2@images.example.com/a.jpg"
        "?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=5ecret5ignature"
    )
    refused = api.post(f"/categories/{category}/image", params={"externalUrl": signed})
    assert refused.status_code == 422  # a URL with a password is refused before any lookup
    recorded = _log(api)[0]
    assert recorded["query"] == (
        "externalUrl=https://REDACTED@images.example.com/a.jpg"
        "%3FX-Amz-Credential%3DREDACTED%26X-Amz-Signature%3DREDACTED"
    )
    everything = api.get("/_requests").text
    for secret in ("hunter2", "AKIAEXAMPLE", "5ecret5ignature"):
        assert secret not in everything


def test_requests_with_a_wrong_token_never_reach_a_stores_log(
    services: Services, client: TestClient, api: Api
) -> None:
    category = api.create(name="Toys")
    api.get(f"/categories/{category}")
    real = _log(api)
    for n in range(120):  # forged: random tokens, a wrong scheme, another store's token
        forged = Api(client, api.store_id, f"secret_{n:04d}{'x' * 28}")
        assert forged.get(f"/categories/{category}").status_code == 403
    other = make_store(services, client, name="Other")
    assert Api(client, api.store_id, other.token).get("/profile").status_code == 403
    assert client.get(f"{api.base}/profile").status_code == 403
    assert _log(api) == real
    assert all(i.get("errorCode") != "INVALID_API_TOKEN" for i in _log(other))


def test_a_store_id_is_read_one_way(api: Api) -> None:
    """The usual spelling of a number only (vitrina.domain.numbers), everywhere: a
    store id padded with zeros or in other digits is refused, not served
    under another name and left out of the log."""
    auth = {"Authorization": f"Bearer {api.token}"}
    for odd in (f"{api.store_id:011d}", chr(0x661), f"+{api.store_id}"):
        answer = api.client.get(f"/api/v3/{odd}/profile", headers=auth)
        assert answer.status_code == 400, odd
        assert "storeId" in answer.json()["errorMessage"]
    assert api.get("/profile").status_code == 200
    assert [i["path"] for i in _log(api)] == [f"/api/v3/{api.store_id}/profile"]
