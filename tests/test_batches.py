"""Batch requests (Ecwid's /batch) through the API, in process, on both back
ends: tickets, their answers as the single calls give them, failures and
NOT_EXECUTED, escapedJson, listing and paging, DELETE, the 500-request
limit, malformed batches, who may see a ticket, a token revoked mid-batch,
the rate limit, and a ticket resumed after its worker stopped mid-request.
The tickets run here by a runner in the test's thread, through the app's
own event loop (the TestClient's)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from tests.live import no_lookups
from tests.servers import ImageServer
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, webhook_policy
from vitrina.domain.batches import BatchItem, Claim, Outcome
from vitrina.usecases import batches
from vitrina.usecases.batches import BatchRunner
from vitrina.usecases.tokens import token_hash
from vitrina.web.batch_calls import TableCalls
from vitrina.web.context import Context


def _create(name: str) -> dict[str, Any]:
    return {"path": "/categories", "method": "POST", "body": {"name": name}}


def calls(client: TestClient) -> TableCalls:
    app = client.app
    assert isinstance(app, Starlette) and client.portal is not None
    return TableCalls(app, client.portal.call)


def run_batches(client: TestClient, services: Services) -> int:
    """Run every due ticket to its end, here and now."""
    return BatchRunner(services, calls(client)).run_until_idle()


def send(api: Api, requests: list[dict[str, Any]], **params: Any) -> str:
    answer = api.post("/batch", json=requests, params=params)
    assert answer.status_code == 200, answer.text
    ticket: str = answer.json()["ticket"]
    return ticket


def ticket(api: Api, name: str, **params: Any) -> dict[str, Any]:
    answer = api.get("/batch", params={"ticket": name, **params})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def completed(
    api: Api, client: TestClient, services: Services, requests: list[dict[str, Any]], **params: Any
) -> dict[str, Any]:
    name = send(api, requests, **params)
    run_batches(client, services)
    found = ticket(api, name)
    assert found["status"] == "COMPLETED", found
    return found


def single(api: Api, request: dict[str, Any]) -> tuple[int, Any]:
    """The same request as a single call."""
    body = request.get("body")
    if body is None:
        content = b""
    else:
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer = api.request(
        request["method"],
        request["path"],
        content=content,
        headers={"Content-Type": "application/json"},  # as a JSON client sends it
    )
    return answer.status_code, answer.json()


def test_each_answer_is_the_single_calls(api: Api, client: TestClient, services: Services) -> None:
    toys = api.create(name="Toys", productIds=[1, 2])
    requests: list[dict[str, Any]] = [
        {"id": "read", "path": f"/categories/{toys}", "method": "GET"},
        {"id": "search", "path": "/categories?keyword=toy&productIds=true", "method": "GET"},
        {"id": "missing", "path": "/categories/424242", "method": "GET"},
        {"id": "not a number", "path": "/categories/abc", "method": "GET"},
        {"id": "bad flag", "path": "/categories?hidden_categories=maybe", "method": "GET"},
        {"id": "no route", "path": "/nothing/here", "method": "GET"},
        {"id": "wrong method", "path": "/categories", "method": "DELETE"},
        {"id": "too long", "path": f"/categories/{toys}", "method": "PUT",
         "body": {"name": "x" * 256}},
        {"id": "text body", "path": f"/categories/{toys}", "method": "PUT",
         "body": '{"enabled": "yes"}'},
        {"id": "no body", "path": "/categories", "method": "POST"},
        {"id": "a list", "path": "/categories", "method": "POST", "body": [1]},
        {"id": "profile", "path": "/profile", "method": "GET"},
        {"id": "unicode", "path": "/categoriesByPath?path=Toys&lang=fr é", "method": "GET"},
    ]  # fmt: skip
    requests.append({"id": "any case", "path": "/profile", "method": "Get"})
    found = completed(api, client, services, requests, stopOnFirstFailure="false")
    assert [a["id"] for a in found["responses"]] == [r["id"] for r in requests]
    for request, answer in zip(requests, found["responses"], strict=True):
        status, body = single(api, request)
        assert (answer["httpStatusCode"], answer["httpBody"]) == (status, body), request
        assert answer["status"] == ("COMPLETED" if status == 200 else "FAILED")
    by_id = {a["id"]: a for a in found["responses"]}
    assert by_id["wrong method"]["httpStatusCode"] == 405
    assert by_id["missing"]["httpStatusLine"] == "Not Found"
    assert by_id["read"]["httpStatusLine"] == "OK"
    assert (found["totalRequests"], found["completedRequests"]) == (14, 14)


def test_writes_run_in_order_and_later_requests_see_earlier_ones(
    api: Api, client: TestClient, services: Services
) -> None:
    parent = api.create(name="Parent")
    found = completed(
        api,
        client,
        services,
        [
            {
                "path": "/categories",
                "method": "POST",
                "body": {"name": "Kites", "parentId": parent},
            },
            {"path": f"/categories/{parent}", "method": "PUT", "body": {"description": "Fly"}},
            {"path": f"/categories?parent={parent}", "method": "GET"},
            {"path": f"/categories/{parent}", "method": "DELETE"},
            {"path": f"/categories/{parent}", "method": "GET"},
        ],
    )
    kites = found["responses"][0]["httpBody"]["id"]
    assert found["responses"][1]["httpBody"] == {"updateCount": 1}
    assert [c["id"] for c in found["responses"][2]["httpBody"]["items"]] == [kites]
    assert found["responses"][3]["httpBody"] == {"deleteCount": 1}
    assert found["responses"][4]["httpStatusCode"] == 404  # stopOnFirstFailure: the last
    assert api.get(f"/categories/{kites}").status_code == 404  # went with its parent


@pytest.mark.parametrize("stop", [None, "true", "false"])
def test_stop_on_first_failure(
    api: Api, client: TestClient, services: Services, stop: str | None
) -> None:
    requests = [
        {"id": "1", "path": "/categories", "method": "POST", "body": {"name": "First"}},
        {"id": "2", "path": "/categories/424242", "method": "PUT", "body": {"name": "Gone"}},
        {"id": "3", "path": "/categories", "method": "POST", "body": {"name": "Third"}},
        {"id": "4", "path": "/categories", "method": "POST", "body": {"name": "Fourth"}},
    ]
    params = {} if stop is None else {"stopOnFirstFailure": stop}
    found = completed(api, client, services, requests, **params)
    names = {c["name"] for c in api.get("/categories").json()["items"]}
    statuses = [a["status"] for a in found["responses"]]
    if stop == "false":
        assert statuses == ["COMPLETED", "FAILED", "COMPLETED", "COMPLETED"]
        assert names == {"First", "Third", "Fourth"}
        assert found["completedRequests"] == 4
    else:  # true is Ecwid's default
        assert statuses == ["COMPLETED", "FAILED", "NOT_EXECUTED", "NOT_EXECUTED"]
        assert found["responses"][2] == {"id": "3", "status": "NOT_EXECUTED"}
        assert names == {"First"}
        assert found["completedRequests"] == 2
    assert found["totalRequests"] == 4


def test_escaped_json_gives_each_answer_as_its_text(
    api: Api, client: TestClient, services: Services
) -> None:
    name = send(
        api,
        [
            {"id": 7, "path": "/categories", "method": "POST", "body": {"name": "Ünïcode"}},
            {"path": "/categories?keyword=%C3%BCn", "method": "GET"},
        ],
    )
    run_batches(client, services)
    plain, escaped = ticket(api, name), ticket(api, name, escapedJson="true")
    assert ticket(api, name, escapedJson="false") == plain
    for as_json, as_text in zip(plain["responses"], escaped["responses"], strict=True):
        assert "escapedHttpBody" not in as_json and "httpBody" not in as_text
        assert json.loads(as_text["escapedHttpBody"]) == as_json["httpBody"]
        assert {k: v for k, v in as_text.items() if k != "escapedHttpBody"} == {
            k: v for k, v in as_json.items() if k != "httpBody"
        }
    assert plain["responses"][0]["id"] == 7  # as it was sent: a number stays a number
    assert "id" not in plain["responses"][1]
    assert plain["responses"][1]["httpBody"]["items"][0]["name"] == "Ünïcode"
    refused = api.get("/batch", params={"ticket": name, "escapedJson": "maybe"})
    assert refused.status_code == 400 and "escapedJson" in refused.json()["errorMessage"]


def test_a_ticket_is_queued_then_in_progress_then_completed(
    api: Api, client: TestClient, services: Services
) -> None:
    requests = [
        {"path": "/categories", "method": "POST", "body": {"name": f"C{n}"}} for n in range(3)
    ]
    name = send(api, requests)
    assert ticket(api, name) == {
        "status": "QUEUED",
        "totalRequests": 3,
        "completedRequests": 0,
        "responses": [],
    }
    queue = services.metadata.batches
    claim = queue.claim_ticket("test", 30)
    assert claim is not None
    assert queue.step(claim, None, True, 30) == 0
    item = queue.items(claim, 0, 10)[0]
    answered = calls(client).run(claim, item)
    outcome = Outcome(0, None, status=answered.status, body=answered.body.decode())
    assert services.metadata.batches.step(claim, outcome, False, 30) is None  # given back
    midway = ticket(api, name)
    assert (midway["status"], midway["completedRequests"], len(midway["responses"])) == (
        "IN_PROGRESS",
        1,
        1,
    )
    run_batches(client, services)
    assert ticket(api, name)["status"] == "COMPLETED"
    assert [c["name"] for c in api.get("/categories").json()["items"]] == ["C0", "C1", "C2"]


def test_listing_paging_and_status(api: Api, client: TestClient, services: Services) -> None:
    done = [send(api, [{"path": "/profile", "method": "GET"}]) for _ in range(3)]
    run_batches(client, services)
    waiting = [send(api, [{"path": "/profile", "method": "GET"}]) for _ in range(2)]
    listed = api.get("/batch").json()
    assert listed["total"] == 5 and listed["count"] == 5 and listed["limit"] == 100
    assert [t["ticket"] for t in listed["items"]] == done + waiting  # oldest first
    assert [t["status"] for t in listed["items"]] == ["COMPLETED"] * 3 + ["QUEUED"] * 2
    page = api.get("/batch", params={"offset": 1, "limit": 2}).json()
    assert (page["total"], page["count"], page["offset"], page["limit"]) == (5, 2, 1, 2)
    assert [t["ticket"] for t in page["items"]] == done[1:3]
    queued = api.get("/batch", params={"status": "QUEUED"}).json()
    assert [t["ticket"] for t in queued["items"]] == waiting and queued["total"] == 2
    assert api.get("/batch", params={"status": "IN_PROGRESS"}).json()["total"] == 0
    assert api.get("/batch", params={"status": "COMPLETED"}).json()["total"] == 3
    assert api.get("/batch", params={"limit": 1000}).json()["limit"] == 100
    for wrong in ({"status": "DONE"}, {"limit": 0}, {"offset": -1}):
        refused = api.get("/batch", params=wrong)
        assert refused.status_code == 400, refused.text
        assert next(iter(wrong)) in refused.json()["errorMessage"]


def test_delete_stops_a_ticket_and_forgets_it(
    api: Api, client: TestClient, services: Services
) -> None:
    kept = send(api, [{"path": "/categories", "method": "POST", "body": {"name": "Kept"}}])
    doomed = send(api, [{"path": "/categories", "method": "POST", "body": {"name": "Never"}}])
    assert api.delete("/batch", params={"ticketId": doomed}).json() == {"deleteCount": 1}
    assert api.delete("/batch", params={"ticketId": doomed}).json() == {"deleteCount": 0}
    assert api.get("/batch", params={"ticket": doomed}).status_code == 404
    assert api.get("/batch", params={"ticketId": doomed}).status_code == 404
    run_batches(client, services)
    assert [c["name"] for c in api.get("/categories").json()["items"]] == ["Kept"]
    assert api.get("/batch", params={"ticketId": kept}).json()["status"] == "COMPLETED"
    # a completed ticket is deleted too (docs.ecwid.com: deleted from history)
    assert api.delete("/batch", params={"ticket": kept}).json() == {"deleteCount": 1}
    assert api.get("/batch").json()["total"] == 0
    refused = api.delete("/batch")
    assert refused.status_code == 400 and "ticketId" in refused.json()["errorMessage"]
    both = api.get("/batch", params={"ticket": kept, "ticketId": doomed})
    assert both.status_code == 400 and "different tickets" in both.json()["errorMessage"]


def test_a_batch_holds_1_to_500_requests(api: Api, client: TestClient, services: Services) -> None:
    most = [
        {"path": "/categories", "method": "POST", "body": {"name": f"N{n}"}} for n in range(500)
    ]
    name = send(api, most)
    refused = api.post("/batch", json=[*most, {"path": "/profile", "method": "GET"}])
    assert refused.status_code == 400
    assert refused.json() == {
        "errorMessage": "A batch holds at most 500 requests; this one has 501: send the rest "
        "in another batch",
        "errorCode": "WRONG_PARAMETER",
    }
    empty = api.post("/batch", json=[])
    assert empty.status_code == 400 and "empty" in empty.json()["errorMessage"]
    run_batches(client, services)
    found = ticket(api, name)
    assert found["status"] == "COMPLETED" and found["completedRequests"] == 500
    assert api.get("/categories?limit=1").json()["total"] == 500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "The request body is not valid JSON"),
        (b"", "The request body is empty; a JSON list of requests was expected"),
        (b'{"path": "/profile", "method": "GET"}', "must be a JSON list of requests"),
        (b"[1]", "Request 1 of the batch must be a JSON object"),
        (b'[{"path": "/profile", "method": "GET"}, {"method": "GET"}]',
         "Request 2 of the batch: Field 'path' is required"),
        (b'[{"path": "/profile"}]', "Field 'method' is required"),
        (b'[{"id": "x", "path": "/profile", "method": "PATCH"}]',
         "Request 1 (id 'x') of the batch: 'method' must be one of GET, POST, PUT, DELETE; "
         "got 'PATCH'"),
        (b'[{"path": "/profile", "method": 1}]', "Field 'method' must be"),
        (b'[{"path": "profile", "method": "GET"}]', "Field 'path' must start with /"),
        (b'[{"path": 12, "method": "GET"}]', "Field 'path' must be a string, got a whole number"),
        (b'[{"id": 1.5, "path": "/profile", "method": "GET"}]', "Field 'id' must be"),
        (b'[{"id": true, "path": "/profile", "method": "GET"}]', "Field 'id' must be"),
        (b'[{"path": "/profile\\u0000", "method": "GET"}]', "NUL character"),
        (b'[{"path": "/profile", "method": "GET", "body": "\\ud800"}]', "lone UTF-16 surrogate"),
        (b'[{"path": "/batch", "method": "POST", "body": []}]',
         "a batch cannot hold batch requests"),
        (b'[{"path": "/batch?ticket=x", "method": "GET"}]', "a batch cannot hold batch requests"),
        (b'[{"path": "/categories/1/image", "method": "POST", "body": "bytes"}]',
         "a batch uploads images only by externalUrl"),
        (b'[{"path": "/categories/1/image", "method": "POST"}]',
         "a batch uploads images only by externalUrl"),
    ],
)  # fmt: skip
def test_malformed_batches_are_refused_saying_what_is_wrong(
    api: Api, body: bytes, message: str
) -> None:
    answer = api.post("/batch", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] == "WRONG_PARAMETER"
    assert message in answer.json()["errorMessage"]
    assert api.get("/batch").json()["total"] == 0


def test_a_batch_body_must_be_json_and_not_too_large(
    api: Api, client: TestClient, services: Services, settings: Any
) -> None:
    wrong = api.post("/batch", content=b"[]", headers={"Content-Type": "text/plain"})
    assert (wrong.status_code, wrong.json()["errorCode"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    ctx = Context.of_app(client.app)  # type: ignore[arg-type]
    ctx.services.settings = settings.replace(batch_max_bytes=1000)
    try:
        large = [{"path": "/categories", "method": "POST", "body": {"name": "x" * 2000}}]
        answer = api.post("/batch", json=large)
        assert answer.status_code == 413
        assert "larger than 1000 bytes" in answer.json()["errorMessage"]
    finally:
        ctx.services.settings = settings


def test_another_store_or_token_does_not_see_a_ticket(
    services: Services, client: TestClient, api: Api
) -> None:
    name = send(api, [{"path": "/profile", "method": "GET"}])
    other = make_store(services, client, name="Other")
    assert other.get("/batch", params={"ticket": name}).status_code == 404
    assert other.delete("/batch", params={"ticketId": name}).json() == {"deleteCount": 0}
    assert other.get("/batch").json()["total"] == 0
    # the other store's token on this store's path: refused as any such call
    stranger = Api(client, api.store_id, other.token)
    assert stranger.get("/batch", params={"ticket": name}).json()["errorCode"] == (
        "INVALID_API_TOKEN"
    )
    # another token of the same store (another app) does not see it either
    from vitrina.usecases.tokens import create_token

    token, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}))
    sibling = Api(client, api.store_id, token)
    assert sibling.get("/batch", params={"ticket": name}).status_code == 404
    assert sibling.get("/batch").json()["total"] == 0
    assert api.get("/batch", params={"ticket": name}).status_code == 200


def test_the_tokens_scopes_apply_to_each_request(
    services: Services, client: TestClient, api: Api
) -> None:
    toys = api.create(name="Toys")
    reader = Api(client, api.store_id, _token(services, api.store_id, "read_catalog"))
    requests: list[dict[str, Any]] = [
        {"path": f"/categories/{toys}", "method": "GET"},
        {"path": "/categories", "method": "POST", "body": {"name": "No"}},
        {"path": f"/categories/{toys}", "method": "PUT", "body": {"name": "No"}},
        {"path": "/_token", "method": "GET"},
    ]
    found = completed(reader, client, services, requests, stopOnFirstFailure="false")
    for request, answer in zip(requests, found["responses"], strict=True):
        assert (answer["httpStatusCode"], answer["httpBody"]) == single(reader, request)
    assert [a["httpStatusCode"] for a in found["responses"]] == [200, 403, 403, 200]
    assert found["responses"][1]["httpBody"]["errorCode"] == "INSUFFICIENT_APP_SCOPE"
    public = Api(client, api.store_id, _token(services, api.store_id, "read_catalog", True))
    secret_only = {"path": "/_requests", "method": "GET"}
    found = completed(public, client, services, [secret_only])
    assert found["responses"][0]["httpBody"] == single(public, secret_only)[1]
    assert found["responses"][0]["httpBody"]["errorCode"] == "INSUFFICIENT_APP_SCOPE"


def _token(services: Services, store_id: int, scopes: str, public: bool = False) -> str:
    from vitrina.usecases.tokens import create_token

    token, _ = create_token(services.metadata, store_id, frozenset(scopes.split(",")), public)
    return token


def test_a_token_revoked_mid_batch_stops_acting(
    services: Services, client: TestClient, api: Api
) -> None:
    requests = [
        {"path": "/categories", "method": "POST", "body": {"name": f"C{n}"}} for n in range(5)
    ]
    name = send(api, requests, stopOnFirstFailure="false")
    made = 0

    def revoking(make: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal made
        assert client.portal is not None
        answered = client.portal.call(make)
        made += 1
        if made == 2:  # after the second request: revoked elsewhere (the command line)
            assert services.metadata.stores.revoke_token(token_hash(api.token))
        return answered

    app = client.app
    assert isinstance(app, Starlette)
    BatchRunner(services, TableCalls(app, revoking)).run_until_idle()
    found = services.metadata.batches.get_ticket(api.store_id, token_hash(api.token), name)
    assert found is not None and not found.open
    assert [o.status for o in found.outcomes] == [200, 200, 403, 403, 403]
    assert json.loads(found.outcomes[2].body)["errorCode"] == "INVALID_API_TOKEN"
    names = [c.name for c in services.metadata.catalog.list_categories(api.store_id)]
    assert names == ["C0", "C1"]


def test_images_by_external_url_only(
    api: Api, client: TestClient, services: Services, remote: ImageServer
) -> None:
    toys, cars = api.create(name="Toys"), api.create(name="Cars")
    url = remote.url("/image.jpg")
    found = completed(
        api,
        client,
        services,
        [
            {"path": f"/categories/{toys}/image?externalUrl={url}", "method": "POST"},
            {"path": f"/categories/{cars}/image", "method": "POST", "body": {"externalUrl": url}},
            {"path": f"/categories/{toys}/image?externalUrl=https://", "method": "POST"},
        ],
        stopOnFirstFailure="false",
    )
    first, second, wrong = found["responses"]
    assert first["httpStatusCode"] == second["httpStatusCode"] == 200
    assert api.category(toys)["thumbnailUrl"].endswith(f"/{first['httpBody']['id']}.jpg")
    assert api.category(cars)["thumbnailUrl"].endswith(f"/{second['httpBody']['id']}.jpg")
    over_http = api.post(f"/categories/{toys}/image", params={"externalUrl": "https://"})
    assert (wrong["httpStatusCode"], wrong["httpBody"]) == (
        over_http.status_code,
        over_http.json(),
    )


def test_a_request_over_the_rate_limit_waits_instead_of_failing(
    services: Services, client: TestClient, api: Api
) -> None:
    ctx = Context.of_app(client.app)  # type: ignore[arg-type]
    limiter = ctx.auth.limiter
    limiter.limit = 2
    now = [1_000_000 * 60 + 59.5]  # half a second before a window ends
    limiter.clock = lambda: now[0]
    try:
        name = send(api, [{"path": "/profile", "method": "GET"}] * 3)  # the POST counts too
        run_batches(client, services)
        queue, key = services.metadata.batches, token_hash(api.token)
        waiting = queue.get_ticket(api.store_id, key, name)
        assert waiting is not None and (waiting.status, waiting.completed) == ("IN_PROGRESS", 1)
        now[0] += 1  # the next window
        assert run_batches(client, services) == 0  # not before Retry-After (1 s)
        time.sleep(1.1)
        run_batches(client, services)
        found = queue.get_ticket(api.store_id, key, name)
    finally:
        limiter.limit, limiter.clock = 0, time.time
    assert found is not None and found.status == "COMPLETED"
    assert [o.status for o in found.outcomes] == [200, 200, 200]


def _first(services: Services, claim: Claim, lease: int = 30) -> BatchItem:
    """The next request of a claimed ticket, as a runner takes it."""
    queue = services.metadata.batches
    position = queue.step(claim, None, True, lease)
    assert position is not None
    return queue.items(claim, position, 1)[0]


def _outcome(sub: TableCalls, claim: Claim, item: BatchItem) -> Outcome:
    answered = sub.run(claim, item)
    return Outcome(item.position, None, status=answered.status, body=answered.body.decode())


def test_a_ticket_resumes_after_its_worker_stopped_and_makes_no_write_twice(
    services: Services, client: TestClient, api: Api
) -> None:
    """A worker dies (its lease runs out) after a request's write committed
    and before its answer was recorded: the next worker answers it
    REQUEST_INTERRUPTED rather than make it again, and runs the rest."""
    requests: list[dict[str, Any]] = [
        {"path": "/categories", "method": "POST", "body": {"name": "Before"}},
        {"path": "/categories", "method": "POST", "body": {"name": "Cut short"}},
        {"path": "/categories?keyword=Before", "method": "GET"},
        {"path": "/categories", "method": "POST", "body": {"name": "After"}},
    ]
    name = send(api, requests, stopOnFirstFailure="false")
    queue, sub = services.metadata.batches, calls(client)
    dead = queue.claim_ticket("dead", 2)
    assert dead is not None
    first = _first(services, dead, 2)
    assert queue.step(dead, _outcome(sub, dead, first), True, 2) == 1
    second = queue.items(dead, 1, 1)[0]
    assert not second.applied
    sub.run(dead, second)  # its write commits; its answer is never recorded
    assert queue.items(dead, 1, 1)[0].applied  # marked by that write's transaction
    assert queue.claim_ticket("early", 30) is None  # the lease still holds
    time.sleep(2.1)
    assert BatchRunner(services, sub).run_until_idle() == 1
    found = ticket(api, name)
    statuses = [a["httpStatusCode"] for a in found["responses"]]
    assert statuses == [200, 500, 200, 200]
    assert found["responses"][1]["httpBody"]["errorCode"] == "REQUEST_INTERRUPTED"
    names = [c["name"] for c in api.get("/categories").json()["items"]]
    assert sorted(names) == ["After", "Before", "Cut short"]  # each once
    with pytest.raises(Exception, match="taken over"):
        queue.step(dead, None, True, 1)  # the dead worker's claim records nothing


def test_a_request_cut_short_before_its_write_committed_runs_again(
    services: Services, client: TestClient, api: Api
) -> None:
    """A worker takes a request and dies before any write of it commits (a
    download, say): it did nothing, so the next worker runs it, once."""
    name = send(api, [{"path": "/categories", "method": "POST", "body": {"name": "Once"}}])
    queue = services.metadata.batches
    dead = queue.claim_ticket("dead", 1)
    assert dead is not None
    assert not _first(services, dead, 1).applied  # taken, never run
    time.sleep(1.1)
    assert BatchRunner(services, calls(client)).run_until_idle() == 1
    answer = ticket(api, name)["responses"][0]
    assert answer["httpStatusCode"] == 200
    assert [c["name"] for c in api.get("/categories").json()["items"]] == ["Once"]


def test_a_worker_whose_claim_ran_out_has_its_write_undone(
    services: Services, client: TestClient, api: Api
) -> None:
    """A worker that stalled past its lease, while another took the ticket
    over, finishes a request late: its write is refused in its own
    transaction (the claim is checked there), so the request runs once,
    under the new claim."""
    name = send(api, [{"path": "/categories", "method": "POST", "body": {"name": "Once"}}])
    queue, sub = services.metadata.batches, calls(client)
    stalled = queue.claim_ticket("stalled", 1)
    assert stalled is not None
    item = _first(services, stalled, 1)
    time.sleep(1.1)
    newer = queue.claim_ticket("newer", 30)
    assert newer is not None and newer.number == stalled.number + 1
    late = sub.run(stalled, item)
    assert late.status == 500 and b"taken over" in late.body
    assert api.get("/categories").json()["total"] == 0  # undone
    BatchRunner(services, sub)._run(newer)
    assert ticket(api, name)["responses"][0]["httpStatusCode"] == 200
    assert [c["name"] for c in api.get("/categories").json()["items"]] == ["Once"]


def test_an_interrupted_read_runs_again(services: Services, client: TestClient, api: Api) -> None:
    api.create(name="Toys")
    name = send(api, [{"path": "/categories?keyword=toy", "method": "GET"}])
    queue = services.metadata.batches
    dead = queue.claim_ticket("dead", 1)
    assert dead is not None
    _first(services, dead, 1)
    time.sleep(1.1)
    BatchRunner(services, calls(client)).run_until_idle()
    answer = ticket(api, name)["responses"][0]
    assert (answer["httpStatusCode"], answer["httpBody"]["total"]) == (200, 1)


def test_a_store_may_have_so_many_tickets_open(
    api: Api, client: TestClient, services: Services, settings: Any
) -> None:
    services.settings = settings.replace(batch_queue_per_store=2)
    try:
        for _ in range(2):
            send(api, [{"path": "/profile", "method": "GET"}])
        full = api.post("/batch", json=[{"path": "/profile", "method": "GET"}])
        assert full.status_code == 429 and full.headers["Retry-After"] == "10"
        assert "VITRINA_BATCH_QUEUE_PER_STORE" in full.json()["errorMessage"]
        run_batches(client, services)
        send(api, [{"path": "/profile", "method": "GET"}])
    finally:
        services.settings = settings


def test_stores_take_turns(services: Services, client: TestClient, api: Api) -> None:
    other = make_store(services, client, name="Other")
    long = [
        {"path": "/categories", "method": "POST", "body": {"name": f"L{n}"}} for n in range(250)
    ]
    send(api, long)
    short = send(other, [{"path": "/profile", "method": "GET"}])
    runner = BatchRunner(services, calls(client))
    runner.run_once()  # a slice of the long ticket, then it is given back
    assert ticket(api, api.get("/batch").json()["items"][0]["ticket"])["status"] == "IN_PROGRESS"
    runner.run_once()  # the other store's turn
    assert ticket(other, short)["status"] == "COMPLETED"


def test_completed_tickets_are_pruned_after_the_retention(
    api: Api, client: TestClient, services: Services, settings: Any
) -> None:
    name = send(api, [{"path": "/profile", "method": "GET"}])
    waiting = send(api, [{"path": "/profile", "method": "GET"}])
    BatchRunner(services, calls(client)).run_once()
    assert batches.prune(services) == 0
    services.settings = settings.replace(batch_retention_seconds=1)
    try:
        time.sleep(1.1)
        assert batches.prune(services) == 1
    finally:
        services.settings = settings
    assert api.get("/batch", params={"ticket": name}).status_code == 404
    assert ticket(api, waiting)["status"] == "QUEUED"  # open tickets are kept


def test_a_token_in_the_path_is_not_kept(api: Api, client: TestClient, services: Services) -> None:
    send(api, [{"path": f"/profile?token={api.token}&lang=en#top", "method": "GET"}])
    claim = services.metadata.batches.claim_ticket("test", 30)
    assert claim is not None
    assert _first(services, claim).target == "/profile?lang=en"


def test_a_request_cannot_leave_its_store(services: Services, client: TestClient, api: Api) -> None:
    """However a path is spelled (dot segments, escaped slashes and dots,
    another store's id, a second slash, a query naming a store), it stays
    below /api/v3/{storeId} of the batch's store: it finds nothing, and
    the other store's data is untouched."""
    other = make_store(services, client, name="Other")
    theirs = other.create(name="Theirs")
    mine = api.create(name="Mine")
    escapes = [
        f"/../{other.store_id}/categories/{theirs}",
        f"/%2E%2E/{other.store_id}/categories/{theirs}",
        f"/%2e%2e%2f{other.store_id}%2fcategories%2f{theirs}",
        f"/..%2F{other.store_id}/categories/{theirs}",
        f"//{other.store_id}/categories/{theirs}",
        f"/{other.store_id}/categories/{theirs}",
        f"//127.0.0.1/api/v3/{other.store_id}/categories/{theirs}",
        f"/categories/{theirs}?storeId={other.store_id}",
        f"/categories/{theirs}/../{theirs}",
        "/",
    ]
    requests = [{"id": n, "path": p, "method": "DELETE"} for n, p in enumerate(escapes)]
    found = completed(api, client, services, requests, stopOnFirstFailure="false")
    for path, answer in zip(escapes, found["responses"], strict=True):
        assert answer["httpStatusCode"] == 404, (path, answer)
        code = answer["httpBody"]["errorCode"]
        assert code in ("NOT_FOUND", "CATEGORY_NOT_FOUND"), (path, answer)
    assert other.category(theirs)["name"] == "Theirs"
    assert api.category(mine)["name"] == "Mine"
    # an escaped slash is a slash, as the server reads it: this store's category
    found = completed(api, client, services, [{"path": f"/categories%2F{mine}", "method": "GET"}])
    assert found["responses"][0]["httpBody"]["id"] == mine
    for absolute in (f"https://127.0.0.1/api/v3/{other.store_id}/categories", "categories"):
        refused = api.post("/batch", json=[{"path": absolute, "method": "GET"}])
        assert refused.status_code == 400 and "must start with /" in refused.text


@pytest.mark.parametrize("path", ["/%62atch", "/b%61tch?ticket=x", "/batch/", "/%2Fbatch"])
def test_a_batch_spelled_otherwise_is_still_not_held_in_a_batch(
    api: Api, client: TestClient, services: Services, path: str
) -> None:
    answer = api.post("/batch", json=[{"path": path, "method": "POST", "body": []}])
    if answer.status_code == 400:
        assert "a batch cannot hold batch requests" in answer.json()["errorMessage"]
        return
    # not a batch operation as the server routes it either: it finds nothing
    run_batches(client, services)
    found = ticket(api, answer.json()["ticket"])
    assert found["responses"][0]["httpStatusCode"] == 404
    assert api.get("/batch").json()["total"] == 1  # no ticket made from inside


def test_a_nested_batch_kept_before_the_check_is_refused_when_it_runs(
    api: Api, client: TestClient, services: Services
) -> None:
    name = batches.create(
        services,
        api.store_id,
        token_hash(api.token),
        [BatchItem(0, None, "POST", "/%62atch", b"[]")],
        True,
    )
    run_batches(client, services)
    answer = ticket(api, name)["responses"][0]
    assert answer["httpStatusCode"] == 400
    assert "a batch cannot hold batch requests" in answer["httpBody"]["errorMessage"]
    assert api.get("/batch").json()["total"] == 1


def test_a_batchs_writes_send_the_single_calls_webhook_events(
    services: Services, client: TestClient, api: Api, remote: ImageServer
) -> None:
    """The same writes, once as single calls and once in a batch, give the
    same events (the outbox writes them in the write's transaction)."""
    services.settings = services.settings.replace(
        webhook_allow_http=True, webhook_allow_networks=("127.0.0.0/8",)
    )
    services.webhook_guard = GuardedFetcher(webhook_policy(services.settings, resolver=no_lookups))
    hook = {"name": "Sync", "webhookUrl": "http://127.0.0.1:9/hooks"}
    assert api.post("/_webhooks/apps", json=hook).status_code == 200
    url = remote.url("/image.jpg")

    def writes(parent: int) -> list[dict[str, Any]]:
        return [
            {"path": "/categories", "method": "POST", "body": {"name": "K", "parentId": parent}},
            {"path": f"/categories/{parent}", "method": "PUT", "body": {"description": "D"}},
            {"path": f"/categories/{parent}/image?externalUrl={url}", "method": "POST"},
            {"path": f"/categories/{parent}/image", "method": "DELETE"},
            {"path": f"/categories/{parent}", "method": "DELETE"},
        ]

    def events_since(last: int) -> list[tuple[str, int]]:
        found = services.metadata.webhooks.list_deliveries(api.store_id)
        return [(d.event.event_type, d.event.entity_id) for d in reversed(found) if d.id > last]

    def newest() -> int:
        found = services.metadata.webhooks.list_deliveries(api.store_id, limit=1)
        return found[0].id if found else 0

    def relative(events: list[tuple[str, int]], parent: int) -> list[tuple[str, str]]:
        return [(kind, "parent" if e == parent else "child") for kind, e in events]

    parent, start = api.create(name="Singles"), newest()
    for request in writes(parent):
        status, body = single(api, request)
        assert status == 200, body
    by_singles = relative(events_since(start), parent)
    parent, start = api.create(name="Batched"), newest()
    found = completed(api, client, services, writes(parent))
    assert [a["httpStatusCode"] for a in found["responses"]] == [200] * 5
    by_batch = relative(events_since(start), parent)
    assert by_batch == by_singles
    assert [kind for kind, _ in by_batch] == [
        "category.created",
        "category.updated",
        "category.updated",
        "category.updated",
        "category.deleted",
        "category.deleted",
    ]
