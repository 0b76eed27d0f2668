"""JSON responses, and the one place errors become HTTP."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.errors import (
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    VitrinaError,
)

log = logging.getLogger("vitrina.web")


_ENCODER = msgspec.json.Encoder()


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON of plain values or answer structs (vitrina.wire)."""
    return _ENCODER.encode(content)


class JSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return render_json(content)


def error_response(exc: VitrinaError, headers: dict[str, str] | None = None) -> JSON:
    headers = dict(headers or {})
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:  # RateLimited, Overloaded
        headers["Retry-After"] = str(retry_after)
    return JSON(
        wire.Error(errorMessage=exc.message, errorCode=exc.code),
        status_code=exc.status,
        headers=headers,
    )


def _answer(request: Request, exc: VitrinaError, headers: dict[str, str] | None = None) -> JSON:
    request.state.error_code = exc.code  # for the request log (web/request_log.py)
    return error_response(exc, headers)


async def on_vitrina_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VitrinaError)
    if isinstance(exc, Overloaded):
        log.warning("%s: %s", exc.code, exc.message)
    elif exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message, exc_info=exc.__cause__ is not None)
    if isinstance(exc, PayloadTooLarge):
        # The rest of the body is not read: the connection closes after this
        # answer (otherwise the server would read and drop it to keep the
        # connection, 100 MiB of it if that is what the client sends).
        return _answer(request, exc, {"Connection": "close"})
    return _answer(request, exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _answer(
            request,
            MethodNotAllowed(f"Method {request.method} is not allowed for {request.url.path}"),
            headers=dict(exc.headers or {}),
        )
    if exc.status_code == 404:
        return _answer(request, NotFound(f"No such resource: {request.method} {request.url.path}"))
    error = VitrinaError(str(exc.detail))
    error.status, error.code = exc.status_code, "HTTP_ERROR"
    return _answer(request, error)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return _answer(request, VitrinaError())
