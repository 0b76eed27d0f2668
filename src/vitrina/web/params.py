"""Reading path segments, query parameters and bodies, with errors that name
what was wrong. A parameter's kind reads its text and describes itself to
the OpenAPI document with the same grammar (vitrina.wire, vitrina.domain.numbers),
so the server accepts exactly what its document says."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request

from vitrina import wire
from vitrina.domain.byte_cap import ByteCap
from vitrina.domain.errors import (
    BadRequest,
    ImageTooBig,
    PayloadTooLarge,
    UnsupportedMediaType,
    WrongNumber,
)
from vitrina.domain.numbers import BOOLEAN, FALSE_WORDS, TRUE_WORDS, Whole, read_bool
from vitrina.web.response_fields import Fields, parse_response_fields


class Kind(Protocol):
    """How one parameter is read from its text, and described."""

    def read(self, text: str, name: str) -> Any:
        """The value; BadRequest naming the parameter when the text is not one."""
        ...

    def schema(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Number:
    """A whole number in a range (wire's STORE_ID, COUNT, ...)."""

    whole: Whole

    def read(self, text: str, name: str) -> int:
        value = self.whole.read(text)
        if value is None:
            raise WrongNumber(name)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.whole.low, "maximum": self.whole.high}


@dataclass(frozen=True)
class Flag:
    """A boolean: true, false, yes, no, on, off, 1 or 0, any case."""

    def read(self, text: str, name: str) -> bool:
        value = read_bool(text)
        if value is None:
            raise BadRequest(
                f"Parameter '{name}' must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}; "
                f"got {text[:100]!r}"
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": BOOLEAN}


@dataclass(frozen=True)
class Ids:
    """A comma list of ids (0 is the root where a parent is meant)."""

    def read(self, text: str, name: str) -> list[int]:
        if re.fullmatch(wire.ID_LIST, text) is None:
            raise BadRequest(f"Parameter '{name}' must be ids separated by commas, like 12,34")
        return [int(part) for part in text.split(",")]

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": wire.ID_LIST}


@dataclass(frozen=True)
class Text:
    """Any text, or text that contains ``pattern`` (which says what it must be)."""

    pattern: str = ""
    must: str = ""

    def read(self, text: str, name: str) -> str:
        if "\x00" in text:
            raise BadRequest(f"Parameter '{name}' has a NUL character, which is not text")
        if self.pattern and re.search(self.pattern, text) is None:
            raise BadRequest(f"Parameter '{name}' {self.must}")
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", **({"pattern": self.pattern} if self.pattern else {})}


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def read(self, text: str, name: str) -> str:
        if text not in self.values:
            raise BadRequest(
                f"Parameter '{name}' must be one of {', '.join(self.values)}; got {text[:100]!r}"
            )
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.values)}


@dataclass(frozen=True)
class FieldList:
    """responseFields: the text (a cache key) and the fields it names."""

    def read(self, text: str, name: str) -> tuple[str, Fields]:
        if re.fullmatch(wire.RESPONSE_FIELDS, text) is None:
            raise BadRequest(
                f"Parameter '{name}' must be field names separated by commas, each "
                f"with the fields to keep of it in parentheses, at most {wire.FIELD_DEPTH} "
                "levels deep: total,items(id,name)"
            )
        return text, parse_response_fields(text)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": wire.RESPONSE_FIELDS}


@dataclass(frozen=True)
class Param:
    """A path or query parameter: its name, kind, default and description."""

    name: str
    where: str  # "path" or "query"
    kind: Kind
    text: str
    default: Any = None
    required: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # more for the document

    def describe(self) -> dict[str, Any]:
        schema = {**self.kind.schema(), **self.extra}
        return {
            "name": self.name,
            "in": self.where,
            "required": self.required or self.where == "path",
            "schema": schema,
            "description": self.text,
        }


NOT_BLANK = {"pattern": wire.NOT_BLANK, "must": "must have a character other than spaces"}
PAGE = f"Page size (at most {wire.MAX_PAGE} are answered)"


def query(name: str, kind: Kind, text: str, default: Any = None, **more: Any) -> Param:
    """A query parameter of an operation's declaration."""
    return Param(name, "query", kind, text, default=default, **more)


def limit(text: str, default: int) -> Param:
    """``limit``: the size of a page."""
    return query("limit", Number(wire.PAGE_SIZE), text, default)


OFFSET = query("offset", Number(wire.COUNT), "Skip this many", 0)


def query_text(request: Request, name: str) -> str | None:
    """One query parameter as sent, or None. A request without a query
    string, the storefront's usual read, parses nothing."""
    if not request.scope.get("query_string"):
        return None
    return request.query_params.get(name)


def read_query(request: Request, params: dict[str, Param], args: dict[str, Any]) -> None:
    """Read the declared query parameters into ``args``. Others are ignored
    (clients send stray ones); a declared one given twice is refused."""
    if not request.scope.get("query_string"):
        for param in params.values():
            if param.required:
                raise BadRequest(f"Parameter '{param.name}' is required")
        return
    seen: set[str] = set()
    for name, text in request.query_params.multi_items():
        declared = params.get(name)
        if declared is None:
            continue
        if name in seen:
            raise BadRequest(f"Parameter '{name}' is given more than once")
        seen.add(name)
        args[name] = declared.kind.read(text, name)
    for param in params.values():
        if param.required and param.name not in seen:
            raise BadRequest(f"Parameter '{param.name}' is required")


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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    data = await read_json_value(request, limit, "a JSON object")
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    return data


async def read_json_value(request: Request, limit: int, expected: str) -> Any:
    """The JSON body (``expected`` says what it should be, for the errors):
    at most ``limit`` bytes, text without lone surrogates or NUL characters."""
    if media_type(request) not in ("application/json", "text/json"):
        raise UnsupportedMediaType()
    body = await read_limited(
        request, limit, PayloadTooLarge(f"The JSON body is larger than {limit} bytes")
    )
    if not body.strip():
        raise BadRequest(f"The request body is empty; {expected} was expected")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON") from None
    try:  # a lone surrogate (\ud800) is valid JSON but no text can be stored or sent
        text = json.dumps(data, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "The request body has a string with a lone UTF-16 surrogate (\\ud800-\\udfff), "
            "which is not text"
        ) from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply") from None
    if "\\u0000" in text and _has_nul(data):  # PostgreSQL keeps no NUL in text
        raise BadRequest("The request body has a NUL character (\\u0000), which is not text")
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
