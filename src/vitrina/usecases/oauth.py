"""App install by OAuth 2's authorization code, as Ecwid does it (SPEC §9).

    GET  /api/oauth/authorize   ``consent``: who asks (the app, by its client
                                id), where the answer goes (its redirect URI,
                                checked by Ecwid's rule), what it asks for
    Install                     ``install``: a code for the app, good once for
                                10 minutes; the app is installed and hears
                                ``application.installed``
    /api/oauth/token            ``exchange``: the code, with the client's
                                secret, for a secret token (and a public one
                                with ``public_storefront``)
    Uninstall                   ``uninstall``: its tokens stop working, it
                                hears ``application.uninstalled``

Nothing here redirects on its own: an unknown client, a redirect URI that
does not match, or any other bad request is refused (an error page, by the
web layer); only the owner's Install or Cancel sends the browser back to
the app. Codes and tokens are kept only as SHA-256 hashes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest, ConstraintViolation, InsufficientScope, NotFound
from vitrina.domain.values import SCOPES, App, Consequences, NewToken, Store, TokenInfo
from vitrina.usecases.consequences import follow
from vitrina.usecases.tokens import token_hash
from vitrina.wire import APP_SCOPES

OOB = "urn:ietf:wg:oauth:2.0:oob"  # installed on a device: the code in the page's title
CODE_SECONDS = 600
ALWAYS = "read_store_profile"  # every install grants it
MAX_STATE = 1000
MAX_FIELD = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ORDER = (ALWAYS, *(s for s in APP_SCOPES if s != ALWAYS))


@dataclass(frozen=True)
class Consent:
    """An authorize request that passed every check: the app, its store, the
    scopes it would be granted (in Ecwid's order), where the answer goes."""

    app: App
    store: Store
    scopes: tuple[str, ...]
    redirect_uri: str
    state: str | None = None

    @property
    def oob(self) -> bool:
        return self.redirect_uri == OOB

    def answer(self, **params: str) -> str:
        """Where the browser goes with ``params`` (and the request's state)."""
        if self.state is not None:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)

    def title(self, **params: str) -> str:
        """The page's title for a device app: ``oauth_response:code=…``."""
        return "oauth_response:" + urlencode(params)


class OAuthError(Exception):
    """A refusal of the token endpoint, in OAuth's words (RFC 6749 §5.2):
    ``{"error", "error_description"}`` with 400, or 401 for the client."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Issued:
    """The answer of a code's exchange."""

    access_token: str
    scopes: tuple[str, ...]
    store_id: int
    public_token: str | None = None


# -- the redirect URI ---------------------------------------------------------------


def _origin(parts: tuple[str, str, int | None]) -> tuple[str, str, int | None]:
    scheme, host, port = parts
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme)


def redirect_matches(registered: str, requested: str) -> bool:
    """Ecwid's rule: the same scheme, host and port as the registered
    redirect URI, and a path that is the registered one or extends it
    (registered ``https://app.example/`` admits ``https://app.example/oauth/cb``;
    ``https://app.example/cb`` admits ``/cb/done``, not ``/cbx``). No user
    name or password and no fragment in the requested one."""
    try:
        have, want = urlsplit(registered), urlsplit(requested)
        have_port, want_port = have.port, want.port
    except ValueError:
        return False
    if want.scheme not in _DEFAULT_PORTS or "@" in want.netloc or want.fragment:
        return False
    if "#" in requested or not want.hostname or not have.hostname:
        return False
    if _origin((have.scheme, have.hostname, have_port)) != _origin(
        (want.scheme, want.hostname, want_port)
    ):
        return False
    base = have.path or "/"
    path = want.path or "/"
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (what it had is kept, its
    fragment too)."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# -- consent --------------------------------------------------------------------------


def ordered(scopes: set[str] | frozenset[str]) -> tuple[str, ...]:
    """Scopes in Ecwid's order: read_store_profile first, then the catalogue's."""
    return tuple(s for s in _ORDER if s in scopes)


def _text(name: str, value: str | None, limit: int = MAX_FIELD) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise BadRequest(f"'{name}' is too long (at most {limit} characters)")
    if "\x00" in value:  # no database keeps it in text, and no URL or id holds one
        raise BadRequest(f"'{name}' has a NUL character (\\u0000), which is not text")
    return value


def _scopes(app: App, asked: str) -> tuple[str, ...]:
    """The scopes an install grants: those asked (the app's own when none
    are), and read_store_profile always. One the app was not registered
    for is refused, not dropped: the owner would consent to less than the
    app expects, and the app would find out only when a call fails."""
    names = {s for s in asked.replace(",", " ").split() if s} or set(app.scopes)
    unknown = sorted(names - set(APP_SCOPES))
    if unknown:
        raise BadRequest(
            f"The app asks for unknown scope(s): {', '.join(unknown)}; "
            f"known: {', '.join(APP_SCOPES)}"
        )
    extra = sorted(names - app.scopes - {ALWAYS})
    if extra:
        mine = ", ".join(sorted(app.scopes)) or "none"
        raise BadRequest(
            f"The app asks for scope(s) it is not registered for: {', '.join(extra)} "
            f"(its scopes: {mine}). Change the app's scopes in the console, or ask for fewer."
        )
    return ordered(names | {ALWAYS})


def consent(
    services: Services,
    client_id: str | None,
    redirect_uri: str | None,
    response_type: str | None,
    scope: str | None,
    state: str | None = None,
) -> Consent:
    """Check an authorize request; BadRequest says what is wrong, for a page."""
    client = _text("client_id", client_id, 200)
    if not client:
        raise BadRequest("The request names no app: client_id is missing.")
    app = services.metadata.apps.find_app(client)
    store = services.metadata.stores.get_store(app.store_id) if app is not None else None
    if app is None or store is None:
        raise BadRequest(f"No app has the client id '{client}'.")
    uri = _text("redirect_uri", redirect_uri)
    if not uri:
        raise BadRequest("The request has no redirect_uri: it says where the answer goes.")
    if uri != OOB:
        if not app.redirect_uri:
            raise BadRequest(
                f"The app “{app.name}” has no redirect URI registered, so it can only be "
                f"installed with redirect_uri={OOB}. Set its redirect URI in the console."
            )
        if not redirect_matches(app.redirect_uri, uri):
            raise BadRequest(
                f"The redirect_uri does not match the one registered for “{app.name}”: it "
                "must have the same scheme, host and port, and a path that is the "
                "registered one or extends it."
            )
    kind = _text("response_type", response_type, 100)
    if kind != "code":
        raise BadRequest(
            f"response_type must be 'code', not '{kind}'."
            if kind
            else "response_type is missing: it must be 'code'."
        )
    scopes = _scopes(app, _text("scope", scope, 1000))
    kept = None if state is None else _text("state", state, MAX_STATE)
    return Consent(app, store, scopes, uri, kept or None)


def install(
    services: Services, asked: Consent, grantor: TokenInfo, at: datetime | None = None
) -> tuple[str, Consequences]:
    """The owner pressed Install, signed in with ``grantor`` (a secret token
    of the app's store): a new code, good once for CODE_SECONDS from ``at``
    (now); the app is installed. The owner grants no catalogue scope the
    token lacks."""
    if grantor.store_id != asked.store.id:
        raise BadRequest(f"Sign in to store #{asked.store.id}, the app's store, to install it.")
    if grantor.kind != "secret":
        raise BadRequest("A public token cannot install an app: sign in with a secret token.")
    for scope in asked.scopes:
        if scope in SCOPES and scope not in grantor.scopes:
            raise InsufficientScope(scope)
    code = secrets.token_urlsafe(24)
    expires_at = (at or datetime.now(UTC)) + timedelta(seconds=CODE_SECONDS)
    done = services.metadata.installs.grant_code(
        asked.store.id,
        asked.app.id,
        token_hash(code),
        frozenset(asked.scopes),
        asked.redirect_uri,
        expires_at,
    )
    if done is None:
        raise ConstraintViolation(f"App #{asked.app.id} was deleted meanwhile.")
    follow(services, done)
    return code, done


def uninstall(services: Services, store_id: int, app_id: int) -> Consequences:
    """Revoke the app's tokens; it hears ``application.uninstalled`` and stays
    (installed again by OAuth)."""
    done = services.metadata.installs.uninstall(store_id, app_id)
    if done is None:
        if services.metadata.apps.get_app(store_id, app_id) is None:
            raise NotFound(f"No app #{app_id} in store #{store_id}")
        raise ConstraintViolation(f"App #{app_id} is not installed.")
    follow(services, done)
    return done


# -- the token endpoint -------------------------------------------------------------

_GRANT_REFUSED = {
    "unknown": "The code is not valid for this app: it may be cut short, or made for another app.",
    "used": "The code has been exchanged before, and a code works once; the tokens issued "
    "from it have been revoked, in case someone else used it.",
    "expired": f"The code has expired: it must be exchanged within {CODE_SECONDS // 60} minutes.",
    "redirect": "The redirect_uri differs from the one the code was issued for: send the "
    "authorize request's redirect_uri exactly.",
}


def _field(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name, [])
    if len(values) > 1:
        raise OAuthError("invalid_request", f"'{name}' is given more than once.")
    value = values[0] if values else ""
    if len(value) > MAX_FIELD:
        raise OAuthError("invalid_request", f"'{name}' is too long.")
    if "\x00" in value:
        raise OAuthError("invalid_request", f"'{name}' has a NUL character, which is not text.")
    return value


def _client(
    services: Services, fields: Mapping[str, list[str]], basic: tuple[str, str] | None
) -> App:
    """The client, authenticated by its secret (in the form, or by HTTP Basic
    as RFC 6749 §2.3.1 lets clients send it), compared in constant time."""
    client_id, secret = _field(fields, "client_id"), _field(fields, "client_secret")
    if basic is not None:
        if secret:
            raise OAuthError(
                "invalid_request", "Send the client secret once: in the form or by HTTP Basic."
            )
        if client_id and client_id != basic[0]:
            raise OAuthError(
                "invalid_client", "The client ids of the form and of Basic differ.", 401
            )
        client_id, secret = basic
        if "\x00" in client_id + secret or len(client_id + secret) > MAX_FIELD:
            raise OAuthError("invalid_client", "The Basic credentials are malformed.", 401)
    if not client_id:
        raise OAuthError("invalid_request", "'client_id' is missing.")
    if not secret:
        raise OAuthError("invalid_client", "'client_secret' is missing.", 401)
    app = services.metadata.apps.find_app(client_id)
    if app is None:
        raise OAuthError("invalid_client", "No app has this client id.", 401)
    if not hmac.compare_digest(secret.encode("utf-8"), app.client_secret.encode("utf-8")):
        raise OAuthError("invalid_client", "The client secret is wrong.", 401)
    return app


def exchange(
    services: Services,
    fields: Mapping[str, list[str]],
    basic: tuple[str, str] | None = None,
    at: datetime | None = None,
) -> Issued:
    """``grant_type=authorization_code``: the code, once, for the app's tokens."""
    grant_type = _field(fields, "grant_type")
    if not grant_type:
        raise OAuthError(
            "invalid_request", "'grant_type' is missing: it must be authorization_code."
        )
    if grant_type != "authorization_code":
        raise OAuthError(
            "unsupported_grant_type", "Only grant_type=authorization_code is supported."
        )
    app = _client(services, fields, basic)
    code, redirect_uri = _field(fields, "code"), _field(fields, "redirect_uri")
    if not code:
        raise OAuthError("invalid_request", "'code' is missing.")
    if not redirect_uri:
        raise OAuthError(
            "invalid_request", "'redirect_uri' is missing: send the authorize request's."
        )
    secret = f"secret_{secrets.token_urlsafe(24)}"
    public = f"public_{secrets.token_urlsafe(24)}"
    grant = services.metadata.installs.redeem_code(
        app.id,
        token_hash(code),
        redirect_uri,
        NewToken(token_hash(secret), secret[:12]),
        NewToken(token_hash(public), public[:12]),
        at or datetime.now(UTC),
    )
    if grant.outcome != "ok":
        raise OAuthError("invalid_grant", _GRANT_REFUSED[grant.outcome])
    return Issued(
        access_token=secret,
        scopes=ordered(grant.scopes),
        store_id=grant.store_id,
        public_token=public if "public_storefront" in grant.scopes else None,
    )
