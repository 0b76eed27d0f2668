"""JSON responses, and the one place errors become HTTP."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from vitrina import wire
from vitrina.errors import MethodNotAllowed, NotFound, Overloaded, VitrinaError

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


async def on_vitrina_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VitrinaError)
    if isinstance(exc, Overloaded):
        log.warning("%s: %s", exc.code, exc.message)
    elif exc.status >= 500:
        log.error("%s: %s", exc.code, exc.message, exc_info=exc.__cause__ is not None)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(
            MethodNotAllowed(f"Method {request.method} is not allowed for {request.url.path}"),
            headers=dict(exc.headers or {}),
        )
    if exc.status_code == 404:
        return error_response(NotFound(f"No such resource: {request.method} {request.url.path}"))
    error = VitrinaError(str(exc.detail))
    error.status, error.code = exc.status_code, "HTTP_ERROR"
    return error_response(error)


async def on_unexpected(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(VitrinaError())
