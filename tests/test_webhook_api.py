"""Apps and webhooks as vitrina extensions, over HTTP (/api/v3/{storeId}/_webhooks/…):
an app's client secret is answered once, when it is created, and never
again; a token grants no scope it lacks; API writes fill the delivery log,
newest first, paged; a delivery shows every attempt as recorded; "send
again" is a new delivery of the same event; the test event names a category
of the store. Secret tokens only: reads need read_catalog, changes
update_catalog. Addresses are named, never looked up (tests/live.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from tests.live import no_lookups
from tests.webhook_queue import claim_one, finish_one
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, webhook_policy
from vitrina.domain.values import Attempt
from vitrina.usecases.tokens import create_token
from vitrina.usecases.webhooks import WebhookRunner

HOOK = "http://127.0.0.1:9/hooks"  # nothing is sent here: no worker runs in these tests


@pytest.fixture(autouse=True)
def loopback_webhooks(services: Services) -> None:
    """Webhooks may go to http:// on loopback, as make run allows."""
    services.settings = services.settings.replace(
        webhook_allow_http=True, webhook_allow_networks=("127.0.0.0/8",)
    )
    services.webhook_guard = GuardedFetcher(webhook_policy(services.settings, resolver=no_lookups))


def _create(api: Api, **fields: Any) -> dict[str, Any]:
    answer = api.post("/_webhooks/apps", json={"name": "Sync", "webhookUrl": HOOK, **fields})
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _log(api: Api, **params: Any) -> list[dict[str, Any]]:
    answer = api.get("/_webhooks/deliveries", params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert answer.json()["count"] == len(items)
    return items


def test_the_client_secret_is_answered_once_and_never_again(api: Api, services: Services) -> None:
    created = _create(api, scopes=["read_catalog", "public_storefront"], events=[])
    secret = created.pop("clientSecret")
    assert len(secret) >= 32
    stored = services.metadata.apps.get_app(api.store_id, created["id"])
    assert stored is not None and stored.client_secret == secret  # the one that signs
    assert created["clientId"] == stored.client_id
    assert created["scopes"] == ["public_storefront", "read_catalog"]
    assert created["webhookUrl"] == HOOK and created["events"] == []
    again = [
        api.get("/_webhooks/apps"),
        api.get(f"/_webhooks/apps/{created['id']}"),
        api.put(f"/_webhooks/apps/{created['id']}", json={"name": "Renamed"}),
    ]
    for answer in again:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and "clientSecret" not in answer.text
    assert again[0].json() == {"count": 1, "items": [created]}
    assert again[1].json() == created
    assert again[2].json() == {**created, "name": "Renamed"}


def test_the_creation_answer_is_not_cached(api: Api) -> None:
    answer = api.post("/_webhooks/apps", json={"name": "Sync"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["scopes"] == ["read_catalog"]  # the default
    assert answer.json()["webhookUrl"] == ""


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"webhookUrl": "http://10.0.0.5/hooks"}, 400, "public internet address"),
        ({"webhookUrl": "https://user:pw@127.0.0.1/hooks"}, 400, "user name or password"),
        ({"scopes": ["read_catalog", "delete_everything"]}, 400, "'scopes' item 1"),
        ({"events": ["order.created"]}, 400, "'events' item 0"),
        ({"redirectUri": "javascript:alert(1)"}, 400, "absolute http"),
        ({"iframeUrl": "/relative"}, 400, "absolute http"),
        ({"name": " "}, 400, "'name' must have a character other than spaces"),
        ({"name": "x" * 256}, 409, "longer than 255"),
    ],
)
def test_what_an_app_may_not_be_is_refused_with_a_reason(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    answer = api.post("/_webhooks/apps", json={"name": "Sync", **body})
    assert answer.status_code == status, answer.text
    assert message in answer.json()["errorMessage"]
    app = _create(api)
    changed = api.put(f"/_webhooks/apps/{app['id']}", json=body)
    assert changed.status_code == status, changed.text
    assert message in changed.json()["errorMessage"]
    assert api.get("/_webhooks/apps").json()["count"] == 1


def test_a_name_is_required(api: Api) -> None:
    answer = api.post("/_webhooks/apps", json={"webhookUrl": HOOK})
    assert answer.status_code == 400
    assert answer.json()["errorMessage"] == "Field 'name' is required"


def test_a_token_grants_no_catalogue_scope_it_lacks(services: Services, client: TestClient) -> None:
    api = make_store(services, client, scopes="read_catalog,update_catalog")
    refused = api.post("/_webhooks/apps", json={"name": "Sync", "scopes": ["create_catalog"]})
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"
    assert "'create_catalog'" in refused.json()["errorMessage"]
    app = _create(api, scopes=["read_catalog", "update_catalog", "read_store_profile"])
    changed = api.put(f"/_webhooks/apps/{app['id']}", json={"scopes": ["create_catalog"]})
    assert changed.status_code == 403
    assert api.get(f"/_webhooks/apps/{app['id']}").json()["scopes"] == app["scopes"]


def _every_call(api: Api, app_id: int, delivery_id: int, category_id: int) -> dict[str, int]:
    """The status of each webhook operation, by its name (the delete last)."""
    return {
        "listApps": api.get("/_webhooks/apps").status_code,
        "getApp": api.get(f"/_webhooks/apps/{app_id}").status_code,
        "listDeliveries": api.get("/_webhooks/deliveries").status_code,
        "getDelivery": api.get(f"/_webhooks/deliveries/{delivery_id}").status_code,
        "createApp": api.post(
            "/_webhooks/apps", json={"name": "More", "scopes": ["read_store_profile"]}
        ).status_code,
        "updateApp": api.put(f"/_webhooks/apps/{app_id}", json={"name": "X"}).status_code,
        "sendTestEvent": api.post(
            f"/_webhooks/apps/{app_id}/test", json={"categoryId": category_id}
        ).status_code,
        "replayDelivery": api.post(f"/_webhooks/deliveries/{delivery_id}/replay").status_code,
        "deleteApp": api.delete(f"/_webhooks/apps/{app_id}").status_code,
    }


READS = {"listApps", "getApp", "listDeliveries", "getDelivery"}


@pytest.mark.parametrize(
    ("scopes", "public", "allowed"),
    [
        ("read_catalog,create_catalog,update_catalog", False, "all"),
        ("read_catalog", False, "reads"),
        ("update_catalog", False, "changes"),
        ("read_catalog", True, "none"),
    ],
)
def test_reads_need_read_catalog_changes_update_catalog_and_both_a_secret_token(
    api: Api, services: Services, client: TestClient, scopes: str, public: bool, allowed: str
) -> None:
    app = _create(api)
    category = api.create(name="Toys")
    delivery = _log(api)[0]["id"]
    token, _ = create_token(services.metadata, api.store_id, frozenset(scopes.split(",")), public)
    answers = _every_call(Api(client, api.store_id, token), app["id"], delivery, category)
    every = set(answers)
    expected = {"all": every, "reads": READS, "changes": every - READS, "none": set()}[allowed]
    assert {name for name, status in answers.items() if status == 200} == expected, answers
    assert {status for name, status in answers.items() if name not in expected} <= {403}


def test_another_store_reaches_none_of_it(api: Api, services: Services, client: TestClient) -> None:
    app = _create(api)
    category = api.create(name="Toys")
    delivery = _log(api)[0]["id"]
    other = make_store(services, client)
    # its token on this store's paths: refused
    answers = _every_call(Api(client, api.store_id, other.token), app["id"], delivery, category)
    assert set(answers.values()) == {403}
    # on its own store's paths, these ids name nothing
    assert _log(other) == [] and other.get("/_webhooks/apps").json()["count"] == 0
    for answer in (
        other.get(f"/_webhooks/apps/{app['id']}"),
        other.put(f"/_webhooks/apps/{app['id']}", json={"name": "Mine"}),
        other.delete(f"/_webhooks/apps/{app['id']}"),
        other.post(f"/_webhooks/apps/{app['id']}/test", json={"categoryId": category}),
        other.get(f"/_webhooks/deliveries/{delivery}"),
        other.post(f"/_webhooks/deliveries/{delivery}/replay"),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["errorCode"] == "NOT_FOUND"
    assert api.get(f"/_webhooks/apps/{app['id']}").json()["name"] == "Sync"


def test_api_writes_fill_the_log_newest_first_one_event_per_category(api: Api) -> None:
    app = _create(api)
    other = _create(api, name="Only creations", events=["category.created"])
    parent = api.create(name="Toys")
    child = api.create(name="Cars", parentId=parent)
    assert api.put(f"/categories/{parent}", json={"description": "All toys"}).status_code == 200
    assert api.delete(f"/categories/{parent}").status_code == 200
    logged = _log(api, app=app["id"])
    mine = [(d["eventType"], d["entityId"]) for d in logged]
    assert mine[2:] == [
        ("category.updated", parent),
        ("category.created", child),
        ("category.created", parent),
        ("application.installed", app["id"]),
    ]
    assert sorted(mine[:2]) == [("category.deleted", parent), ("category.deleted", child)]
    assert len({d["eventId"] for d in logged}) == len(logged)
    for delivery in logged:
        assert delivery["appId"] == app["id"] and delivery["storeId"] == api.store_id
        assert (delivery["state"], delivery["attemptCount"], delivery["lastStatus"]) == (
            "pending",
            0,
            None,
        )
        assert delivery["nextAttemptAt"].endswith("Z")
    theirs = [(d["eventType"], d["entityId"]) for d in _log(api, app=other["id"])]
    assert theirs == [("category.created", child), ("category.created", parent)]
    assert len(_log(api)) == len(logged) + len(theirs)


def test_the_log_pages_with_limit_and_before(api: Api) -> None:
    _create(api)
    for number in range(7):
        api.create(name=f"Category {number}")
    every = [d["id"] for d in _log(api)]
    assert len(every) == 8 and every == sorted(every, reverse=True)
    pages: list[list[int]] = []
    while page := [d["id"] for d in _log(api, limit=3, before=pages[-1][-1] if pages else 0)]:
        pages.append(page)
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for p in pages for i in p] == every
    assert len(_log(api, limit=10**9)) == 8  # more than a page holds is that most


def _attempt(delivery: Any, status: int | None, retry_at: datetime | None) -> Attempt:
    return Attempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        at=datetime.now(UTC),
        status=status,
        duration_ms=12.5 if status else 3000.0,
        error="" if status == 200 else ("HTTP 500" if status else "no connection within 3 s"),
        response="<h1>Oops</h1>" if status == 500 else ("ok" if status else ""),
        request_headers={
            "Content-Type": "application/json; charset=UTF-8",
            "X-Ecwid-Webhook-Signature": "c2lnbmVk",
        },
        request_body='{"eventId":"e"}',
        next_at=retry_at,
    )


def test_a_delivery_shows_every_attempt_as_recorded(api: Api, services: Services) -> None:
    app = _create(api)
    queue = services.metadata.webhooks
    # as the worker does: claim, send, record; a refused connection, a 500, then a 200
    for status, retry in ((None, True), (500, True), (200, False)):
        claimed = claim_one(queue, "test-worker")
        assert claimed is not None and claimed[1].id == app["id"]
        delivery = claimed[0]
        retry_at = datetime.now(UTC) - timedelta(seconds=1) if retry else None
        assert finish_one(queue, delivery, _attempt(delivery, status, retry_at), not retry)
    (logged,) = _log(api)
    answer = api.get(f"/_webhooks/deliveries/{logged['id']}")
    assert answer.status_code == 200
    shown = answer.json()
    attempts = shown.pop("attempts")
    assert shown == {**logged, "state": "delivered", "attemptCount": 3, "lastStatus": 200}
    assert shown["nextAttemptAt"] is None and shown["lastError"] == ""
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == [None, 500, 200]
    assert [a["error"] for a in attempts] == ["no connection within 3 s", "HTTP 500", ""]
    assert [a["response"] for a in attempts] == ["", "<h1>Oops</h1>", "ok"]
    assert [a["durationMs"] for a in attempts] == [3000.0, 12.5, 12.5]
    assert attempts[0]["nextAttemptAt"].endswith("Z") and attempts[2]["nextAttemptAt"] is None
    for attempt in attempts:
        assert attempt["requestHeaders"] == {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Ecwid-Webhook-Signature": "c2lnbmVk",
        }
        assert attempt["requestBody"] == '{"eventId":"e"}' and attempt["time"].endswith("Z")
    missing = api.get("/_webhooks/deliveries/999999")
    assert missing.status_code == 404
    assert missing.json()["errorMessage"] == f"No webhook delivery #999999 in store #{api.store_id}"


def test_send_again_is_a_new_delivery_of_the_same_event(api: Api) -> None:
    app = _create(api)
    (installed,) = _log(api)
    answer = api.post(f"/_webhooks/deliveries/{installed['id']}/replay")
    assert answer.status_code == 200, answer.text
    again = answer.json()
    assert again["id"] > installed["id"] and again["state"] == "pending"
    same = ("eventId", "eventCreated", "eventType", "entityId", "appId", "storeId")
    assert {k: again[k] for k in same} == {k: installed[k] for k in same}
    assert [d["id"] for d in _log(api)] == [again["id"], installed["id"]]
    assert api.get(f"/_webhooks/deliveries/{again['id']}").json()["attempts"] == []
    # an app without a webhook URL, or deleted, gets nothing: 409 says why
    api.put(f"/_webhooks/apps/{app['id']}", json={"webhookUrl": ""})
    refused = api.post(f"/_webhooks/deliveries/{installed['id']}/replay")
    assert refused.status_code == 409
    assert (
        refused.json()["errorMessage"]
        == f"App #{app['id']} has no webhook URL: set one to send events"
    )
    api.delete(f"/_webhooks/apps/{app['id']}")
    refused = api.post(f"/_webhooks/deliveries/{installed['id']}/replay")
    assert refused.status_code == 409 and "was deleted" in refused.json()["errorMessage"]
    assert api.post("/_webhooks/deliveries/999999/replay").status_code == 404


def test_a_test_event_is_a_category_updated_for_that_app_alone(api: Api) -> None:
    app = _create(api, events=["category.deleted"])  # asked for other events: still sent
    bystander = _create(api, name="Bystander")
    category = api.create(name="Toys")
    before = len(_log(api, app=bystander["id"]))
    answer = api.post(f"/_webhooks/apps/{app['id']}/test", json={"categoryId": category})
    assert answer.status_code == 200, answer.text
    sent = answer.json()
    assert (sent["eventType"], sent["entityId"], sent["appId"], sent["state"]) == (
        "category.updated",
        category,
        app["id"],
        "pending",
    )
    assert _log(api, app=app["id"])[0] == sent
    assert len(_log(api, app=bystander["id"])) == before
    assert (
        api.post(f"/_webhooks/apps/{app['id']}/test", json={"categoryId": category}).json()[
            "eventId"
        ]
        != sent["eventId"]
    )  # each test event is a new event
    missing = api.post(f"/_webhooks/apps/{app['id']}/test", json={"categoryId": 999999})
    assert missing.status_code == 404
    assert missing.json() == {
        "errorMessage": "Category #999999 not found",
        "errorCode": "CATEGORY_NOT_FOUND",
    }
    no_app = api.post("/_webhooks/apps/999999/test", json={"categoryId": category})
    assert no_app.status_code == 404 and no_app.json()["errorCode"] == "NOT_FOUND"
    api.put(f"/_webhooks/apps/{app['id']}", json={"webhookUrl": ""})
    assert (
        api.post(f"/_webhooks/apps/{app['id']}/test", json={"categoryId": category}).status_code
        == 409
    )


def test_a_deleted_app_is_gone_but_hears_of_it(api: Api) -> None:
    app = _create(api)
    answer = api.delete(f"/_webhooks/apps/{app['id']}")
    assert answer.status_code == 200 and answer.json() == {"deleteCount": 1}
    assert api.get(f"/_webhooks/apps/{app['id']}").status_code == 404
    assert api.get("/_webhooks/apps").json() == {"count": 0, "items": []}
    assert [d["eventType"] for d in _log(api)] == [
        "application.uninstalled",
        "application.installed",
    ]
    again = api.delete(f"/_webhooks/apps/{app['id']}")
    assert again.status_code == 404
    assert again.json()["errorMessage"] == f"No app #{app['id']} in store #{api.store_id}"


def test_the_client_secret_is_never_written_down(
    api: Api, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = api.post("/_webhooks/apps", json={"name": "Sync", "webhookUrl": HOOK}).json()
    secret = created["clientSecret"]
    category = api.create(name="Toys")
    api.put(f"/_webhooks/apps/{created['id']}", json={"name": "Renamed"})
    api.post(f"/_webhooks/apps/{created['id']}/test", json={"categoryId": category})
    runner = WebhookRunner(services)  # sends each once: nothing listens there
    try:
        assert runner.run_until_idle() == 3
    finally:
        runner.close()
    shown = [api.get(f"/_webhooks/deliveries/{d['id']}").text for d in _log(api)]
    assert all('"attemptCount":1' in text for text in shown)
    assert any(r.name == "vitrina.webhooks" for r in caplog.records)  # the failures were logged
    assert secret not in caplog.text
    assert not any(secret in text for text in shown)
    assert secret not in api.get("/_requests", params={"limit": 1000}).text
    assert secret not in repr(services.metadata.apps.get_app(api.store_id, created["id"]))
