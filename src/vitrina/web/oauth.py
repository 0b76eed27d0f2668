"""App install by OAuth, as Ecwid answers it (SPEC §9; the rules are in
usecases/oauth.py):

    GET  /api/oauth/authorize   the consent page: the app, the store, the
                                scopes, Install and Cancel (its script is
                                console/oauth.js); a bad request is an error
                                page, never a redirect
    POST /api/oauth/authorize   what Install sends (JSON, with the console
                                session's token): a code, and where the
                                browser goes with it
    GET|POST /api/oauth/token   a code for the app's tokens: OAuth's JSON

The pages are the console's: its stylesheet, scripts from /console/ and its
Content-Security-Policy (no inline script, and no frame may hold them).
"""

from __future__ import annotations

import base64
import binascii
from html import escape
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitrina.domain.errors import BadRequest
from vitrina.usecases import oauth
from vitrina.web.console import security_headers
from vitrina.web.context import Context
from vitrina.web.params import read_json
from vitrina.web.responses import JSON

MAX_FORM = 16 * 1024  # a token request's body
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FROM_HERE = "../../console/"  # the console's files, from /api/oauth/…

# What each scope lets the app do, as the consent page says it.
SCOPE_TEXT = {
    "read_store_profile": "See the store's profile: its name, address and languages",
    "read_catalog": "Read the categories, hidden ones too",
    "create_catalog": "Create categories",
    "update_catalog": "Change and delete categories and their images",
    "public_storefront": "Get a public token, which reads the enabled categories "
    "(for code that runs in shoppers' browsers)",
}


# -- pages ---------------------------------------------------------------------------


def _page(title: str, body: str, status: int, headers: dict[str, str], script: bool) -> Response:
    loads = f'<script type="module" src="{_FROM_HERE}oauth.js"></script>\n' if script else ""
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="icon" href="{_FROM_HERE}favicon.svg" type="image/svg+xml">\n'
        f'<link rel="stylesheet" href="{_FROM_HERE}console.css">\n{loads}</head>\n<body>\n'
        '<header class="bar"><h1><span class="brand">vitrina</span></h1></header>\n'
        f"{body}\n</body>\n</html>\n"
    )
    return Response(html, status, headers=headers, media_type="text/html; charset=utf-8")


def _headers(request: Request) -> dict[str, str]:
    return {**security_headers(Context.of(request).settings), "Cache-Control": "no-store"}


def refused_page(request: Request, message: str) -> Response:
    """The error page: what was wrong, and no way back to the app."""
    body = (
        '<main class="consent">\n<section class="card">\n'
        "<h2>This install link does not work</h2>\n"
        f'<p class="error" id="refusal">{escape(message)}</p>\n'
        '<p class="hint">Nothing was sent back to the app. If you are its developer, the '
        "install link's rules are in vitrina's docs/apps.md.</p>\n</section>\n</main>"
    )
    return _page("Cannot install the app · vitrina", body, 400, _headers(request), script=False)


def _where(consent: oauth.Consent) -> str:
    if consent.oob:
        return (
            "After Install, the code the app needs shows in this page's title, where the app "
            "on your device reads it. Nothing is sent anywhere."
        )
    parts = urlsplit(consent.redirect_uri)
    return (
        f"After Install, your browser goes back to <code>{escape(parts.scheme)}://"
        f"{escape(parts.netloc)}</code> with a code the app exchanges for its token."
    )


def consent_page(request: Request, consent: oauth.Consent) -> Response:
    app, store = consent.app, consent.store
    scopes = "\n".join(
        f'<li><code>{escape(s)}</code> <span class="hint">{escape(SCOPE_TEXT[s])}</span></li>'
        for s in consent.scopes
    )
    data = {
        "store": str(store.id),
        "store-name": store.name,
        "app-name": app.name,
        "client-id": app.client_id,
        "redirect-uri": consent.redirect_uri,
        "scope": " ".join(consent.scopes),
        "oob": "true" if consent.oob else "false",
        "cancel": "" if consent.oob else consent.answer(error="access_denied"),
    }
    if consent.state is not None:
        data["state"] = consent.state
    attrs = " ".join(f'data-{name}="{escape(value)}"' for name, value in data.items())
    body = f"""<main class="consent" id="consent" {attrs}>
<section class="card" aria-labelledby="consent-title">
<h2 id="consent-title">Install “{escape(app.name)}”?</h2>
<p>The app asks for access to <strong>{escape(store.name)}</strong> (store {store.id}):</p>
<ul class="scopes" id="scopes">
{scopes}
</ul>
<p class="hint">{_where(consent)}</p>
<p id="who" class="status" role="status"></p>
<form id="consent-signin" class="fields" hidden novalidate>
<label for="signin-value">Sign-in link or token</label>
<input id="signin-value" autocomplete="off" spellcheck="false">
<p class="hint">Paste a sign-in link to store {store.id}
(<code>vitrina console-link --store {store.id}</code> prints one),
or a secret token of the store.</p>
<button type="submit" id="signin-submit">Sign in</button>
<p id="signin-error" class="error" role="alert"></p>
</form>
<div class="actions">
<button type="button" id="install" class="primary" disabled>Install</button>
<button type="button" id="cancel">Cancel</button>
</div>
<p id="consent-error" class="error" role="alert"></p>
<p id="consent-done" class="status" role="status"></p>
</section>
</main>"""
    title = f"Install “{app.name}” · vitrina"
    return _page(title, body, 200, _headers(request), script=True)


# -- authorize -----------------------------------------------------------------------


def _one(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"'{name}' is given more than once.")
    return values[0] if values else None


async def authorize(request: Request) -> Response:
    """GET: the consent page, or the error page."""
    ctx = Context.of(request)
    try:
        names = ("client_id", "redirect_uri", "response_type", "scope", "state")
        given = [_one(request, name) for name in names]
        consent = await run_in_threadpool(oauth.consent, ctx.services, *given)
    except BadRequest as refused:
        return refused_page(request, refused.message)
    return consent_page(request, consent)


async def install(request: Request) -> Response:
    """POST: the owner pressed Install. The body repeats the authorize
    request; the console session's token says who consents."""
    ctx = Context.of(request)
    if "token" in request.query_params:
        # the session's token comes in the Authorization header, which no
        # other site can make a browser send: that is what makes Install safe
        raise BadRequest("Install takes the session's token in the Authorization header only")
    body = await read_json(request, 16 * 1024)

    def text(name: str) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"'{name}' must be text")
        return value

    consent = await run_in_threadpool(
        oauth.consent,
        ctx.services,
        text("client_id"),
        text("redirect_uri"),
        text("response_type"),
        text("scope"),
        text("state"),
    )
    caller = await ctx.auth.require(request, consent.store.id, None)
    code, _done = await run_in_threadpool(oauth.install, ctx.services, consent, caller.token)
    if ctx.worker is not None:
        ctx.worker.wake()  # application.installed goes now
    if consent.oob:
        answer = {"title": consent.title(code=code), "code": code}
    else:
        answer = {"location": consent.answer(code=code)}
    return JSON(answer, headers=_NO_STORE)


# -- token ---------------------------------------------------------------------------


def _oauth_error(refused: oauth.OAuthError, basic: bool) -> Response:
    headers = dict(_NO_STORE)
    if refused.status == 401 and basic:
        headers["WWW-Authenticate"] = 'Basic realm="vitrina"'
    body = {"error": refused.error, "error_description": refused.description}
    return JSON(body, status_code=refused.status, headers=headers)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth.OAuthError(
            "invalid_client", "The Basic credentials are malformed.", 401
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise oauth.OAuthError("invalid_client", "The Basic credentials are malformed.", 401)
    return unquote_plus(client_id), unquote_plus(secret)


async def _form(request: Request) -> list[tuple[str, str]]:
    """A POST's form body, at most MAX_FORM bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM:
            raise oauth.OAuthError("invalid_request", f"The body is over {MAX_FORM} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return []
    if kind != "application/x-www-form-urlencoded":
        raise oauth.OAuthError(
            "invalid_request",
            "Send the parameters as a form (application/x-www-form-urlencoded), "
            f"not as {kind or 'a body without a Content-Type'}.",
        )
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise oauth.OAuthError("invalid_request", "The form is not UTF-8.") from None


async def token(request: Request) -> Response:
    """GET query or POST form: the code for the app's tokens."""
    ctx = Context.of(request)
    scheme = request.headers.get("authorization", "").partition(" ")[0]
    basic = scheme.lower() == "basic"
    try:
        pairs = list(request.query_params.multi_items())
        if request.method == "POST":
            pairs += await _form(request)
        fields: dict[str, list[str]] = {}
        for name, value in pairs:
            if value != "":  # RFC 6749 §3.1: sent without a value is not sent
                fields.setdefault(name, []).append(value)
        issued = await run_in_threadpool(oauth.exchange, ctx.services, fields, _basic(request))
    except oauth.OAuthError as refused:
        return _oauth_error(refused, basic)
    answer: dict[str, object] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": " ".join(issued.scopes),
        "store_id": issued.store_id,
    }
    if issued.public_token is not None:
        answer["public_token"] = issued.public_token
    return JSON(answer, headers=_NO_STORE)
