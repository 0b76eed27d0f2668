"""Reading path segments, query parameters and bodies, with errors that name
what was wrong."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request

from vitrina.byte_cap import ByteCap
from vitrina.errors import (
    BadRequest,
    ImageTooBig,
    PayloadTooLarge,
    UnsupportedMediaType,
    WrongNumber,
)
from vitrina.numbers import FALSE_WORDS, TRUE_WORDS, parse_bool, parse_whole

MAX_CATEGORY_ID = 2**31 - 1
MAX_FILE_ID = 2**53 - 1


def _int(text: str, name: str, low: int, high: int) -> int:
    value = parse_whole(text)
    if value is None or not low <= value <= high:
        raise WrongNumber(name)
    return value


def query_text(request: Request, name: str, default: str | None = None) -> str | None:
    """A query parameter as sent (``default`` when absent). A request without
    a query string, the storefront's usual read, parses nothing."""
    if not request.scope.get("query_string"):
        return default
    return request.query_params.get(name, default)


def path_id(request: Request, name: str, high: int = MAX_CATEGORY_ID) -> int:
    return _int(request.path_params[name], name, 1, high)


def query_int(request: Request, name: str, default: int, low: int = 0) -> int:
    text = query_text(request, name)
    if text is None or text == "":
        return default
    return _int(text, name, low, 2**63 - 1)


def query_bool(request: Request, name: str, default: bool) -> bool:
    text = query_text(request, name)
    if text is None or text == "":
        return default
    try:
        return parse_bool(text)
    except ValueError:
        raise BadRequest(
            f"Parameter '{name}' must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}; got {text!r}"
        ) from None


def query_ids(request: Request, name: str) -> list[int] | None:
    """A comma list of ids, or None when the parameter is absent."""
    text = query_text(request, name)
    if text is None:
        return None
    parts = [p for p in text.split(",") if p.strip()]
    return [_int(p, name, 0, MAX_CATEGORY_ID) for p in parts]


def _gone() -> BadRequest:
    """The connection closed before the whole body arrived (the client gave up,
    or the body deadline closed it): nobody reads this answer, nothing to log."""
    return BadRequest("The connection closed before the whole request body arrived")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_limited(request: Request, limit: int, error: Exception) -> bytes:
    cap = ByteCap(limit, lambda: error)
    cap.declared(request.headers.get("content-length", ""))
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += cap.add(chunk)
    except ClientDisconnect:
        raise _gone() from None
    return bytes(body)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    if media_type(request) not in ("application/json", "text/json"):
        raise UnsupportedMediaType()
    body = await read_limited(
        request, limit, PayloadTooLarge(f"The JSON body is larger than {limit} bytes")
    )
    if not body.strip():
        raise BadRequest("The request body is empty; a JSON object was expected")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    try:  # a lone surrogate (\ud800) is valid JSON but no text can be stored or sent
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "The request body has a string with a lone UTF-16 surrogate (\\ud800-\\udfff), "
            "which is not text"
        ) from None
    return data


async def spool_body(request: Request, limit: int) -> Path:
    """Stream the body into a temporary file, stopping at the first byte over
    ``limit``; the caller removes the file."""
    cap = ByteCap(limit, lambda: ImageTooBig(limit))
    cap.declared(request.headers.get("content-length", ""))
    fd, name = tempfile.mkstemp(prefix="vitrina-", suffix=".upload")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(cap.add(chunk))
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise _gone() from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
