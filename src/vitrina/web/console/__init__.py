"""The web console at /console/: static files shipped in the package
(web/console/), served with a strict Content-Security-Policy. The page is a
client of the public API like any app; nothing here reads a token. Its one
endpoint of its own, POST /console/session, exchanges a sign-in link's
single-use code for a session token that expires."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.errors import BadRequest, NotFound
from vitrina.settings import Settings
from vitrina.usecases.tokens import redeem_signin_code
from vitrina.web.context import Context
from vitrina.web.params import read_json
from vitrina.web.responses import JSON

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@cache
def _asset(name: str) -> tuple[bytes, str] | None:
    """(bytes, ETag) of a file of web/console, or None."""
    if "/" in name or name.startswith(".") or not any(name.endswith(t) for t in _TYPES):
        return None
    path = resources.files("vitrina.web").joinpath("console", name)
    if not path.is_file():
        return None
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _image_origins(settings: Settings) -> str:
    """Where the page's images come from: the file base URL, and the object
    store when /images/... redirects there."""
    origins = [_origin(settings.effective_files_url)]
    if (
        settings.effective_storage_url.startswith("s3://")
        and settings.files_redirect
        and not settings.files_url
    ):
        origins.append(
            _origin(settings.s3_endpoint_url)
            if settings.s3_endpoint_url
            else "https://*.amazonaws.com"
        )
    return " ".join(origins)


def security_headers(settings: Settings) -> dict[str, str]:
    files = _image_origins(settings)
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' {files} data:",
            f"connect-src 'self' {files}",
            "base-uri 'none'",
            "form-action 'none'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


_WIDTHS = b'<meta name="vitrina-image-widths" content="160,320,480,640,800,1200,1600">'


@cache
def _page(widths: tuple[int, ...]) -> tuple[bytes, str] | None:
    """index.html, naming the widths ``?width=`` allows (VITRINA_IMAGE_WIDTHS)
    for the image's srcset snippet."""
    found = _asset("index.html")
    if found is None:
        return None
    listed = ",".join(map(str, widths)).encode()
    body = found[0].replace(_WIDTHS, _WIDTHS.replace(b"160,320,480,640,800,1200,1600", listed))
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def console(request: Request) -> Response:
    name = request.path_params.get("name") or "index.html"
    settings = Context.of(request).settings
    found = _page(settings.image_widths) if name == "index.html" else _asset(name)
    if found is None:
        raise NotFound(f"No such console file: {name}")
    body, etag = found
    headers = {**security_headers(settings), "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    suffix = name[name.rindex(".") :]
    return Response(body, media_type=_TYPES[suffix], headers=headers)


def frame_origin(value: str | None) -> str | None:
    """``value`` if it is an origin a frame may load (``http(s)://host[:port]``,
    nothing more: it goes into a Content-Security-Policy), else None."""
    if not value or len(value) > 300 or not _ORIGIN.fullmatch(value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        return None
    return f"{parts.scheme}://{parts.netloc}"


_ORIGIN = re.compile(r"(?i)https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


async def app_page(request: Request) -> Response:
    """The page that holds a native app's frame (app-page.html, opened in a
    frame of the console): the console's policy, but ``frame-src`` admits
    the app's origin (the ``origin`` parameter) and this page alone, and
    only the console may frame it. Its script asks the API for the app's
    URL with the payload and loads nothing from another origin itself."""
    settings = Context.of(request).settings
    origin = frame_origin(request.query_params.get("origin"))
    if origin is None:
        raise BadRequest("'origin' must be the app's origin: http(s)://host[:port]")
    found = _asset("app-page.html")
    assert found is not None
    headers = security_headers(settings)
    policy = headers["Content-Security-Policy"]
    policy = policy.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    headers["Content-Security-Policy"] = f"{policy}; frame-src {origin}"
    headers["X-Frame-Options"] = "SAMEORIGIN"
    return Response(found[0], media_type=_TYPES[".html"], headers=headers)


async def console_redirect(_request: Request) -> Response:
    # A relative Location: nothing built from the Host header.
    return Response(status_code=308, headers={"Location": "console/"})


def _store_id(value: object) -> int:
    number = wire.STORE_ID.read(value) if isinstance(value, str) else value
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 < number <= wire.MAX_CATEGORY_ID
    ):
        raise BadRequest("'storeId' must be a store id (a positive whole number)")
    return number


async def session(request: Request) -> Response:
    """``{"storeId", "code"}`` → a new session: ``{"storeId", "token",
    "scopes", "expiresAt"}``. The code is good once (docs/differences.md)."""
    ctx = Context.of(request)
    body = await read_json(request, 4096)
    store_id = _store_id(body.get("storeId"))
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise BadRequest("'code' must be the sign-in code from the link (after signin=)")
    token, info = await run_in_threadpool(
        redeem_signin_code,
        ctx.services.metadata,
        store_id,
        code.strip(),
        ctx.settings.console_session_seconds,
    )
    assert info.expires_at is not None
    expires = info.expires_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    answer = {
        "storeId": store_id,
        "token": token,
        "scopes": sorted(info.scopes),
        "expiresAt": expires,
    }
    return JSON(answer, headers={"Cache-Control": "no-store"})
