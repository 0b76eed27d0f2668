"""App install by OAuth 2's authorization code, over HTTP, as Ecwid does it
(SPEC §9): the authorize request's checks (an error page and never a
redirect for an unknown client, a redirect URI that does not match, a
scope the app was not registered for), Install (a code, the app installed
and told so, no scope the owner's session lacks), the token endpoint (a
code once, for its client and redirect URI, for 10 minutes; a second
exchange revokes what the first gave; OAuth's errors), uninstall. On SQLite
and on PostgreSQL. The browser and an OAuth library do it end to end in
test_oauth_browser.py."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from tests.live import no_lookups
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, webhook_policy
from vitrina.domain.values import App
from vitrina.usecases import apps as app_cases
from vitrina.usecases import oauth
from vitrina.usecases.tokens import create_token, token_hash

REGISTERED = "http://127.0.0.1:9/oauth"  # nothing listens: no test follows a redirect
CALLBACK = REGISTERED + "/callback"
HOOK = "http://127.0.0.1:9/hooks"


@pytest.fixture(autouse=True)
def loopback_webhooks(services: Services) -> None:
    """Webhooks may go to http:// on loopback (none is sent: no worker runs)."""
    services.settings = services.settings.replace(
        webhook_allow_http=True, webhook_allow_networks=("127.0.0.0/8",)
    )
    services.webhook_guard = GuardedFetcher(webhook_policy(services.settings, resolver=no_lookups))


def _app(services: Services, api: Api, scopes: tuple[str, ...] = ("read_catalog",)) -> App:
    app, _ = app_cases.create(
        services, api.store_id, "Sync", scopes, webhook_url=HOOK, redirect_uri=REGISTERED
    )
    return app


def _authorize(client: TestClient, app: App, **params: str) -> httpx.Response:
    query = {
        "client_id": app.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": " ".join(sorted(app.scopes)),
        **params,
    }
    return client.get("/api/oauth/authorize", params=query, follow_redirects=False)


def _install(api: Api, app: App, token: str | None = None, **fields: str) -> httpx.Response:
    body = {
        "client_id": app.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": " ".join(sorted(app.scopes)),
        **fields,
    }
    headers = {"Authorization": f"Bearer {token or api.token}"}
    return api.client.post("/api/oauth/authorize", json=body, headers=headers)


def _code(api: Api, app: App, **fields: str) -> str:
    answer = _install(api, app, **fields)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    location: str = answer.json()["location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def _exchange(
    client: TestClient, app: App, code: str | None, **fields: str | None
) -> httpx.Response:
    form = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": CALLBACK,
        "grant_type": "authorization_code",
        **fields,
    }
    return client.post("/api/oauth/token", data={k: v for k, v in form.items() if v is not None})


def _refused(answer: httpx.Response, error: str, status: int = 400) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    description: str = body["error_description"]
    return description


def _works(client: TestClient, store_id: int, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.get(f"/api/v3/{store_id}/profile", headers=headers)
    assert answer.status_code in (200, 403), answer.text
    return answer.status_code == 200


def _stops_working(client: TestClient, store_id: int, token: str) -> bool:
    """A revocation reaches every process within 2 seconds (its token cache)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not _works(client, store_id, token):
            return True
        time.sleep(0.2)
    return False


def _events(api: Api, app: App) -> list[str]:
    answer = api.get("/_webhooks/deliveries", params={"app": app.id})
    assert answer.status_code == 200, answer.text
    return [d["eventType"] for d in reversed(answer.json()["items"])]


# -- the whole install ------------------------------------------------------------------


def test_install_gives_a_code_once_for_a_token_with_the_scopes_granted(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    page = _authorize(client, app, state="xyz")
    assert page.status_code == 200 and "location" not in page.headers
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "Install “Sync”?" in page.text and "Test store" in page.text
    assert "<code>read_store_profile</code>" in page.text  # always granted
    assert "<code>read_catalog</code>" in page.text and "update_catalog" not in page.text

    installed = _install(api, app, state="xyz")
    assert installed.status_code == 200, installed.text
    target = urlsplit(installed.json()["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == CALLBACK
    query = parse_qs(target.query)
    assert set(query) == {"code", "state"} and query["state"] == ["xyz"]
    assert len(query["code"][0]) >= 32
    shown = api.get(f"/_webhooks/apps/{app.id}").json()
    assert shown["installed"] >= shown["created"]
    # created in its store (installed there), then installed by OAuth
    assert _events(api, app) == ["application.installed", "application.installed"]

    answer = _exchange(client, app, query["code"][0])
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    token: dict[str, Any] = answer.json()
    assert set(token) == {"access_token", "token_type", "scope", "store_id"}
    assert token["token_type"] == "Bearer" and token["store_id"] == api.store_id
    assert token["scope"] == "read_store_profile read_catalog"
    assert token["access_token"].startswith("secret_")
    mine = Api(client, api.store_id, token["access_token"])
    assert mine.get("/categories").status_code == 200
    assert mine.get("/profile").json()["generalInfo"]["storeId"] == api.store_id
    refused = mine.post("/categories", json={"name": "No"})
    assert refused.status_code == 403 and refused.json()["errorCode"] == "INSUFFICIENT_APP_SCOPE"


def test_public_storefront_adds_a_public_token_that_reads_enabled_categories(
    api: Api, services: Services, client: TestClient
) -> None:
    hidden = api.create(name="Hidden", enabled=False)
    shown = api.create(name="Shown")
    app = _app(services, api, ("read_catalog", "public_storefront"))
    answer = _exchange(client, app, _code(api, app))
    token = answer.json()
    assert token["scope"] == "read_store_profile read_catalog public_storefront"
    public = Api(client, api.store_id, token["public_token"])
    assert token["public_token"].startswith("public_")
    assert public.get(f"/categories/{shown}").status_code == 200
    assert public.get(f"/categories/{hidden}").status_code == 404
    assert public.post("/categories", json={"name": "No"}).status_code == 403


def test_a_device_app_reads_the_code_from_the_title(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    page = _authorize(client, app, redirect_uri=oauth.OOB)
    assert page.status_code == 200 and 'data-oob="true"' in page.text
    assert 'data-cancel=""' in page.text  # Cancel changes the title, goes nowhere
    installed = _install(api, app, redirect_uri=oauth.OOB)
    assert installed.status_code == 200 and "location" not in installed.json()
    title, code = installed.json()["title"], installed.json()["code"]
    assert title == f"oauth_response:code={code}"
    assert _exchange(client, app, code).status_code == 400  # not the URI it was issued for
    assert _exchange(client, app, code, redirect_uri=oauth.OOB).status_code == 200


def test_the_token_endpoint_takes_a_get_query_and_basic_credentials(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    query = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": _code(api, app),
        "redirect_uri": CALLBACK,
        "grant_type": "authorization_code",
    }
    assert client.get("/api/oauth/token", params=query).status_code == 200
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    form = {"code": _code(api, app), "redirect_uri": CALLBACK, "grant_type": "authorization_code"}
    answer = client.post("/api/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.text


# -- codes: once, for their client and URI, for 10 minutes ------------------------------


def test_a_second_exchange_fails_and_revokes_the_first_token(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api, ("read_catalog", "public_storefront"))
    code = _code(api, app)
    first = _exchange(client, app, code).json()
    assert _works(client, api.store_id, first["access_token"])
    other = _exchange(client, app, _code(api, app)).json()  # another install's token
    description = _refused(_exchange(client, app, code), "invalid_grant")
    assert "exchanged before" in description and "revoked" in description
    assert _stops_working(client, api.store_id, first["access_token"])
    assert _stops_working(client, api.store_id, first["public_token"])
    assert _works(client, api.store_id, other["access_token"])
    assert _refused(_exchange(client, app, code), "invalid_grant")  # and again


def test_two_exchanges_at_once_give_one_token(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    code = _code(api, app)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _exchange(client, app, code), range(4)))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]


def test_a_code_expires_after_ten_minutes(api: Api, services: Services, client: TestClient) -> None:
    app = _app(services, api)
    asked = oauth.consent(services, app.client_id, CALLBACK, "code", "read_catalog")
    owner = services.metadata.stores.find_token(token_hash(api.token))
    assert owner is not None
    now = datetime.now(UTC)
    stale, _ = oauth.install(services, asked, owner, at=now - timedelta(minutes=10, seconds=1))
    fresh, _ = oauth.install(services, asked, owner, at=now - timedelta(minutes=9, seconds=50))
    assert "expired" in _refused(_exchange(client, app, stale), "invalid_grant")
    assert _exchange(client, app, fresh).status_code == 200


def test_a_code_is_bound_to_its_client_and_redirect_uri(
    api: Api, services: Services, client: TestClient
) -> None:
    app, other = _app(services, api), _app(services, api)
    code = _code(api, app)
    # another app, with its own good credentials
    refused = _exchange(
        client, app, code, client_id=other.client_id, client_secret=other.client_secret
    )
    assert "not valid for this app" in _refused(refused, "invalid_grant")
    # the registered URI itself is not the one the code was issued for
    wrong = _exchange(client, app, code, redirect_uri=REGISTERED)
    assert "redirect_uri differs" in _refused(wrong, "invalid_grant")
    # a wrong secret, or none: the client is refused and the code stays good
    assert "secret is wrong" in _refused(
        _exchange(client, app, code, client_secret="x" * 32), "invalid_client", 401
    )
    assert _refused(_exchange(client, app, code, client_secret=None), "invalid_client", 401)
    unknown = _exchange(client, app, code, client_id="app-1-nope")
    assert "No app" in _refused(unknown, "invalid_client", 401)
    basic = base64.b64encode(f"{app.client_id}:wrong".encode()).decode()
    form = {"code": code, "redirect_uri": CALLBACK, "grant_type": "authorization_code"}
    answer = client.post("/api/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    _refused(answer, "invalid_client", 401)
    assert answer.headers["www-authenticate"] == 'Basic realm="vitrina"'
    assert _exchange(client, app, code).status_code == 200
    assert "not valid" in _refused(_exchange(client, app, "no-such-code"), "invalid_grant")


@pytest.mark.parametrize(
    ("fields", "error", "says"),
    [
        ({"grant_type": None}, "invalid_request", "grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "authorization_code"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type", "authorization_code"),
        ({"code": None}, "invalid_request", "'code' is missing"),
        ({"redirect_uri": None}, "invalid_request", "redirect_uri"),
        ({"client_id": None}, "invalid_request", "client_id"),
        ({"code": "x" * 5000}, "invalid_request", "too long"),
    ],
)
def test_bad_token_requests_say_what_is_wrong(
    api: Api,
    services: Services,
    client: TestClient,
    fields: dict[str, str],
    error: str,
    says: str,
) -> None:
    app = _app(services, api)
    answer = _exchange(client, app, **{"code": "some-code", **fields})
    assert says in _refused(answer, error)


def test_the_token_endpoint_takes_forms_only_once_each(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    form = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": "c",
        "redirect_uri": CALLBACK,
        "grant_type": "authorization_code",
    }
    as_json = client.post("/api/oauth/token", json=form)
    assert "application/x-www-form-urlencoded" in _refused(as_json, "invalid_request")
    twice = client.post("/api/oauth/token?code=d", data=form)
    assert "more than once" in _refused(twice, "invalid_request")
    big = client.post("/api/oauth/token", data={**form, "pad": "x" * 20_000})
    assert "over" in _refused(big, "invalid_request")
    garbled = client.post(
        "/api/oauth/token",
        content=b"code=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "UTF-8" in _refused(garbled, "invalid_request")
    broken = client.post(
        "/api/oauth/token", data=form, headers={"Authorization": "Basic not-base64!"}
    )
    _refused(broken, "invalid_client", 401)
    put = client.put("/api/oauth/token", data=form)
    assert put.status_code == 405


# -- the authorize request: an error page, never a redirect ----------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:9/oauth",
        "http://127.0.0.1:9/oauth/",
        "http://127.0.0.1:9/oauth/callback/deeper",
        "http://127.0.0.1:9/oauth?next=1",
        "HTTP://127.0.0.1:9/oauth/cb",
    ],
)
def test_a_redirect_uri_may_extend_the_registered_path(
    api: Api, services: Services, client: TestClient, uri: str
) -> None:
    assert _authorize(client, _app(services, api), redirect_uri=uri).status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:10/oauth/callback",  # another port
        "https://127.0.0.1:9/oauth/callback",  # another scheme
        "http://127.0.0.2:9/oauth/callback",  # another host
        "http://127.0.0.1:9/oauthx",  # not an extension of the path
        "http://127.0.0.1:9/",  # shorter
        "http://evil@127.0.0.1:9/oauth/cb",  # user info
        "http://127.0.0.1:9/oauth/cb#frag",  # a fragment
        "javascript:alert(1)//127.0.0.1:9/oauth",
        "//127.0.0.1:9/oauth/cb",
        "http://[::1/oauth",
    ],
)
def test_a_redirect_uri_that_does_not_match_gets_an_error_page(
    api: Api, services: Services, client: TestClient, uri: str
) -> None:
    page = _authorize(client, _app(services, api), redirect_uri=uri)
    assert page.status_code == 400 and "location" not in page.headers
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "does not match" in page.text and "<script" not in page.text


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"client_id": "app-1-unknown"}, "No app has the client id"),
        ({"client_id": ""}, "client_id is missing"),
        ({"redirect_uri": ""}, "no redirect_uri"),
        ({"response_type": "token"}, "response_type must be"),
        ({"response_type": ""}, "response_type is missing"),
        ({"scope": "read_catalog update_catalog"}, "not registered for: update_catalog"),
        ({"scope": "read_orders"}, "unknown scope(s): read_orders"),
        ({"state": "s" * 1001}, "too long"),
    ],
)
def test_a_bad_authorize_request_gets_an_error_page(
    api: Api, services: Services, client: TestClient, params: dict[str, str], says: str
) -> None:
    app = _app(services, api)
    page = _authorize(client, app, **params)
    assert page.status_code == 400 and "location" not in page.headers, page.text
    assert says in page.text.replace("&#x27;", "'")
    # Install refuses it the same way, and gives no code
    installed = _install(api, app, **params)
    assert installed.status_code == 400 and set(installed.json()) == {"errorMessage", "errorCode"}


def test_a_parameter_twice_is_refused(api: Api, services: Services, client: TestClient) -> None:
    app = _app(services, api)
    query = f"client_id={app.client_id}&client_id=x&redirect_uri={CALLBACK}&response_type=code"
    page = client.get(f"/api/oauth/authorize?{query}")
    assert page.status_code == 400 and "more than once" in page.text


def test_an_app_without_a_redirect_uri_installs_only_on_a_device(
    api: Api, services: Services, client: TestClient
) -> None:
    app, _ = app_cases.create(services, api.store_id, "Desk", ("read_catalog",))
    page = _authorize(client, app)
    assert page.status_code == 400 and "no redirect URI registered" in page.text
    assert _authorize(client, app, redirect_uri=oauth.OOB).status_code == 200


def test_names_are_text_on_the_pages(api: Api, services: Services, client: TestClient) -> None:
    app, _ = app_cases.create(
        services, api.store_id, "<img src=x onerror=alert(1)>", redirect_uri=REGISTERED
    )
    page = _authorize(client, app, state='"><script>alert(1)</script>')
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "<script>alert" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    refused = _authorize(client, app, client_id="<b>x</b>")
    assert "<b>" not in refused.text and "&lt;b&gt;x&lt;/b&gt;" in refused.text


# -- who may press Install ------------------------------------------------------------------


def test_install_needs_a_secret_token_of_the_store_with_the_scopes_asked(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api, ("read_catalog", "update_catalog"))
    nobody = client.post("/api/oauth/authorize", json={"client_id": app.client_id})
    assert nobody.status_code in (400, 403)
    unsigned = client.post(
        "/api/oauth/authorize",
        json={
            "client_id": app.client_id,
            "redirect_uri": CALLBACK,
            "response_type": "code",
            "scope": "read_catalog",
        },
    )
    assert unsigned.status_code == 403 and unsigned.json()["errorCode"] == "INVALID_API_TOKEN"
    other = make_store(services, client)
    assert _install(api, app, other.token).json()["errorCode"] == "INVALID_API_TOKEN"
    public, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}), True)
    assert "public token" in _install(api, app, public).json()["errorMessage"]
    reader, _ = create_token(services.metadata, api.store_id, frozenset({"read_catalog"}))
    lacking = _install(api, app, reader)
    assert lacking.status_code == 403 and "update_catalog" in lacking.json()["errorMessage"]
    # what the reader holds, it may grant
    assert _install(api, app, reader, scope="read_catalog").status_code == 200
    assert _events(api, app) == ["application.installed", "application.installed"]


# -- uninstall, delete -------------------------------------------------------------------------


def test_uninstall_revokes_the_tokens_and_tells_the_app(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    token = _exchange(client, app, _code(api, app)).json()["access_token"]
    waiting = _code(api, app)  # not exchanged yet
    assert _works(client, api.store_id, token)
    answer = api.post(f"/_webhooks/apps/{app.id}/uninstall")
    assert answer.status_code == 200, answer.text
    assert answer.json()["installed"] is None
    assert _stops_working(client, api.store_id, token)
    assert "not valid" in _refused(_exchange(client, app, waiting), "invalid_grant")
    assert _events(api, app)[-1] == "application.uninstalled"
    again = api.post(f"/_webhooks/apps/{app.id}/uninstall")
    assert again.status_code == 409 and "not installed" in again.json()["errorMessage"]
    assert api.post("/_webhooks/apps/999/uninstall").status_code == 404
    # installed again by OAuth
    token = _exchange(client, app, _code(api, app)).json()["access_token"]
    assert _works(client, api.store_id, token)
    assert api.get(f"/_webhooks/apps/{app.id}").json()["installed"] is not None
    # deleting it revokes the new token; an uninstalled app's deletion is silent
    assert api.delete(f"/_webhooks/apps/{app.id}").status_code == 200
    assert _stops_working(client, api.store_id, token)
    quiet = _app(services, api)
    assert api.post(f"/_webhooks/apps/{quiet.id}/uninstall").status_code == 200
    assert api.delete(f"/_webhooks/apps/{quiet.id}").status_code == 200
    log = api.get("/_webhooks/deliveries", params={"app": quiet.id}).json()["items"]
    assert [d["eventType"] for d in log] == ["application.uninstalled", "application.installed"]


def test_an_uninstalled_app_hears_no_more_of_the_store_until_installed_again(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    api.create(name="Heard")
    assert api.post(f"/_webhooks/apps/{app.id}/uninstall").status_code == 200
    api.create(name="Not heard")
    assert _events(api, app) == [
        "application.installed",
        "category.created",
        "application.uninstalled",
    ]
    _exchange(client, app, _code(api, app))
    api.create(name="Heard again")
    assert _events(api, app)[-2:] == ["application.installed", "category.created"]


def test_a_deleted_app_cannot_exchange_its_code(
    api: Api, services: Services, client: TestClient
) -> None:
    app = _app(services, api)
    code = _code(api, app)
    assert api.delete(f"/_webhooks/apps/{app.id}").status_code == 200
    _refused(_exchange(client, app, code), "invalid_client", 401)


# -- the rules, directly -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "requested", "matches"),
    [
        ("https://app.example/", "https://app.example/oauth/cb", True),
        ("https://app.example", "https://app.example/oauth/cb", True),
        ("https://app.example/", "https://other.example/", False),
        ("https://app.example/cb", "https://app.example/cb/done", True),
        ("https://app.example/cb", "https://app.example/cbx", False),
        ("https://app.example/", "https://app.example:443/x", True),
        ("https://app.example/", "https://app.example:8443/x", False),
        ("https://app.example/", "http://app.example/x", False),
        ("https://App.Example/", "https://app.example/x", True),
        ("https://app.example/", "https://app.example.evil/x", False),
        ("https://app.example/", "https://app.example@evil.example/x", False),
        ("https://app.example/", "ftp://app.example/x", False),
        ("https://app.example/", "https://app.example:99999/x", False),
    ],
)
def test_redirect_matching_follows_ecwid(registered: str, requested: str, matches: bool) -> None:
    assert oauth.redirect_matches(registered, requested) is matches


@pytest.mark.parametrize(
    "client_id",
    ["a\x00b", "app-1-\udcff"[:6] + "é" * 300, "%00", "' OR 1=1 --", "\u2028", " " * 10],
)
def test_odd_client_ids_are_refused_not_a_500(
    api: Api, services: Services, client: TestClient, client_id: str
) -> None:
    app = _app(services, api)
    page = _authorize(client, app, client_id=client_id)
    assert page.status_code == 400 and "location" not in page.headers
    answer = _exchange(client, app, "some-code", client_id=client_id)
    assert answer.status_code in (400, 401) and answer.json()["error"] in (
        "invalid_request",
        "invalid_client",
    )
    basic = base64.b64encode(f"{client_id}:{app.client_secret}".encode()).decode()
    form = {"code": "c", "redirect_uri": CALLBACK, "grant_type": "authorization_code"}
    by_basic = client.post(
        "/api/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"}
    )
    assert by_basic.status_code in (400, 401)
    installed = _install(api, app, client_id=client_id)
    assert installed.status_code == 400


@pytest.mark.parametrize(
    "fields",
    [
        {"redirect_uri": "http://[::1/x"},
        {"redirect_uri": "\x00"},
        {"state": "\x00"},
        {"scope": "\x00"},
        {"code": "a\x00"},
        {"client_secret": "\x00" * 40},
        {"grant_type": "authorization_code\x00"},
    ],
)
def test_odd_token_fields_are_refused_not_a_500(
    api: Api, services: Services, client: TestClient, fields: dict[str, str]
) -> None:
    app = _app(services, api)
    answer = _exchange(client, app, **{"code": "c", **fields})
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == {"error", "error_description"}
