"""App use cases: create (a client id, and a secret shown once), change,
delete. An app's webhook URL must pass the webhook guard when it is saved
(https, a public address, unless VITRINA_WEBHOOK_ALLOW_HTTP and
VITRINA_WEBHOOK_ALLOW_NETWORKS say otherwise), so a refused URL is a 400
then; an address that changes later shows in the delivery log."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

import httpx

from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest, DownloadFailed, InsufficientScope, NotFound, WrongUrl
from vitrina.domain.values import (
    EVENT_TYPES,
    KEEP,
    SCOPES,
    App,
    AppChanges,
    Consequences,
)
from vitrina.usecases.consequences import follow
from vitrina.wire import APP_SCOPES

MAX_NAME = 255


def _scopes(scopes: Iterable[str], grantor: frozenset[str] | None) -> frozenset[str]:
    """The scopes, known ones only; a token (``grantor``: its scopes) grants
    no catalogue scope it lacks itself (None: the command line, which may)."""
    chosen = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(chosen - set(APP_SCOPES))
    if unknown:
        raise BadRequest(f"Unknown scope(s): {', '.join(unknown)}; known: {', '.join(APP_SCOPES)}")
    lacking = sorted((chosen & set(SCOPES)) - grantor) if grantor is not None else []
    if lacking:
        raise InsufficientScope(lacking[0])
    return chosen


def _events(events: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(e.strip() for e in events if e.strip()))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise BadRequest(
            f"Unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    return chosen


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest("An app needs a name")
    if len(name) > MAX_NAME:
        raise BadRequest(f"An app's name is at most {MAX_NAME} characters")
    return name


def check_webhook_url(services: Services, url: str) -> str:
    """``url`` if webhooks may go there (its form, and every address its host
    has now); a 400 that says why otherwise. Empty: no webhooks."""
    url = url.strip()
    if not url:
        return ""
    guard = services.webhook_guard
    try:
        parsed = guard.check_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        guard.resolve(parsed.raw_host.decode("ascii"), port)
    except (WrongUrl, DownloadFailed) as exc:
        message = exc.message.replace("can be downloaded", "can receive webhooks")
        raise BadRequest(f"The webhook URL is refused: {message}") from None
    return url


def _browser_url(field: str, url: str) -> str:
    """A redirect or iframe URL: empty, or an absolute http(s) URL."""
    url = url.strip()
    if not url:
        return ""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise BadRequest(f"The {field} is not a URL") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise BadRequest(f"The {field} must be an absolute http:// or https:// URL")
    return url


def create(
    services: Services,
    store_id: int,
    name: str,
    scopes: Iterable[str] = ("read_catalog",),
    webhook_url: str = "",
    events: Iterable[str] = (),
    redirect_uri: str = "",
    iframe_url: str = "",
    grantor: frozenset[str] | None = None,
) -> tuple[App, Consequences]:
    """A new app of the store; its client secret is in the returned App,
    the only time it is handed out. ``grantor``: the scopes of the token
    that asks, which the app's catalogue scopes must be among."""
    if services.metadata.stores.get_store(store_id) is None:
        raise NotFound(f"Store #{store_id} does not exist")
    changes = AppChanges(
        scopes=_scopes(scopes, grantor),
        webhook_url=check_webhook_url(services, webhook_url),
        events=_events(events),
        redirect_uri=_browser_url("redirect URI", redirect_uri),
        iframe_url=_browser_url("iframe URL", iframe_url),
    )
    client_id = f"app-{store_id}-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(24)  # 32 characters; a payload's key is its first 16
    app, done = services.metadata.apps.create_app(store_id, _name(name), client_id, secret, changes)
    follow(services, done)
    return app, done


def change(
    services: Services,
    store_id: int,
    app_id: int,
    *,
    name: str | None = None,
    scopes: Iterable[str] | None = None,
    webhook_url: str | None = None,
    events: Iterable[str] | None = None,
    redirect_uri: str | None = None,
    iframe_url: str | None = None,
    grantor: frozenset[str] | None = None,
) -> App:
    """Change what is given (None: kept)."""
    changes = AppChanges(
        name=KEEP if name is None else _name(name),
        scopes=KEEP if scopes is None else _scopes(scopes, grantor),
        webhook_url=KEEP if webhook_url is None else check_webhook_url(services, webhook_url),
        events=KEEP if events is None else _events(events),
        redirect_uri=KEEP if redirect_uri is None else _browser_url("redirect URI", redirect_uri),
        iframe_url=KEEP if iframe_url is None else _browser_url("iframe URL", iframe_url),
    )
    app = services.metadata.apps.update_app(store_id, app_id, changes)
    if app is None:
        raise NotFound(f"No app #{app_id} in store #{store_id}")
    return app


def delete(services: Services, store_id: int, app_id: int) -> Consequences:
    """Delete the app: its tokens stop working, its waiting events go, and
    it hears ``application.uninstalled`` (if it asked for it)."""
    done = services.metadata.apps.delete_app(store_id, app_id)
    if done is None:
        raise NotFound(f"No app #{app_id} in store #{store_id}")
    follow(services, done)
    return done
