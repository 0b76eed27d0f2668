"""What one API operation is, and how a request reaches its handler.

An ``Operation`` declares everything about one method and path: its
``operationId``, the handler, the scope it needs, its path and query
parameters (their kinds carry types and limits), its request body, its
answer and its error statuses. web/api.py declares every operation once;
from that table come the routes (web/app.py), the scope checks and the
parameter reading (``endpoint`` here), the OpenAPI document
(web/openapi.py), and ``find``/``invoke``, which run an operation in process,
without HTTP, for a given caller (batch requests).

A request goes: the store id, then who is calling and whether the token may
(the scope, a secret token where one is needed, the rate limit), then the
other path parameters, the query parameters and a JSON body, each read by
its kind; then the handler, with a ``Call``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import Message

from vitrina import wire
from vitrina.domain.errors import MethodNotAllowed, NotFound, SecretTokenRequired, VitrinaError
from vitrina.domain.values import Consequences
from vitrina.web.auth import Caller
from vitrina.web.context import Context
from vitrina.web.params import Number, Param, read_json, read_query
from vitrina.web.responses import error_response
from vitrina.wire import reading as wire_input

log = logging.getLogger("vitrina.web")


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, the app's context, the caller (None
    on an operation without a token), and every declared parameter read
    (absent ones at their defaults; ``body`` for a JSON body)."""

    request: Request
    ctx: Context
    caller: Caller | None
    args: dict[str, Any]

    @property
    def store_id(self) -> int:
        value: int = self.args["storeId"]
        return value

    @property
    def who(self) -> Caller:
        assert self.caller is not None  # operations with a token only
        return self.caller

    async def settle(self, done: Consequences) -> None:
        """After a use case's commit (its consequences carried out already):
        this process's read caches of the stores it changed catch up now, so
        the next read, the storefront's usually, finds them current."""
        for store_id in done.stores:
            await self.ctx.catalog.refresh(store_id)


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Answer:
    """The 200 answer: a struct of vitrina.wire (or a raw media type), and
    the links the document gives from it to other operations."""

    shape: type[msgspec.Struct] | None
    description: str
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)  # when it is not JSON


@dataclass(frozen=True)
class Body:
    """The request body: a JSON struct read before the handler, or raw
    content the handler reads itself (an image)."""

    shape: type[msgspec.Struct] | None = None
    content: dict[str, Any] = field(default_factory=dict)
    description: str = ""


API = "/api/v3/{storeId}"  # where the operations of a store are
STORE = Param("storeId", "path", Number(wire.STORE_ID), "Store id", required=True)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    summary: str
    handler: Handler
    scope: str | None  # the scope it needs; None: any valid token of the store
    answer: Answer
    errors: tuple[int, ...]
    params: tuple[Param, ...] = ()
    body: Body | None = None
    token: bool = True  # False: public, no token (image files)
    secret: bool = False  # needs a secret token

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.all_params if p.where == "path")

    @property
    def all_params(self) -> tuple[Param, ...]:
        return (STORE, *self.params) if self.token else self.params


class _Prepared:
    """An operation's parameters, sorted once for the hot path."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.path = [p for p in operation.params if p.where == "path"]
        self.query = {p.name: p for p in operation.params if p.where == "query"}
        self.defaults = {p.name: p.default for p in operation.params if p.where == "query"}


def endpoint(operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``operation``."""
    prepared = _Prepared(operation)

    async def run(request: Request) -> Response:
        return await _run(prepared, request, None)

    run.__name__ = operation.operation_id
    return run


async def _run(prepared: _Prepared, request: Request, given: Caller | None) -> Response:
    operation = prepared.operation
    ctx = Context.of(request)
    found = request.path_params
    args = dict(prepared.defaults)
    caller = None
    if operation.token:
        store_id = args["storeId"] = STORE.kind.read(found["storeId"], "storeId")
        if given is None:
            caller = await ctx.auth.require(request, store_id, operation.scope)
        else:
            caller = await ctx.auth.admit(request, given, store_id, operation.scope)
        if operation.secret and caller.public:
            raise SecretTokenRequired()
    for param in prepared.path:
        args[param.name] = param.kind.read(found[param.name], param.name)
    read_query(request, prepared.query, args)
    body = operation.body
    if body is not None and body.shape is not None:
        data = await read_json(request, ctx.settings.max_json_bytes)
        args["body"] = wire_input.read(data, body.shape)
    return await operation.handler(Call(request, ctx, caller, args))


# -- in process, without HTTP ----------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Operations by method and path template, for running one in process."""

    operations: Sequence[Operation]
    _compiled: list[tuple[Operation, re.Pattern[str], _Prepared]] = field(
        init=False, default_factory=list
    )

    def __post_init__(self) -> None:
        for operation in self.operations:
            regex, _, _ = compile_path(operation.path)
            self._compiled.append((operation, regex, _Prepared(operation)))

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation answering ``method path``, and its path parameters."""
        for operation, regex, _ in self._compiled:
            match = regex.match(path)
            if match and operation.method == method.upper():
                return operation, match.groupdict()
        return None

    async def invoke(
        self,
        app: Starlette,
        caller: Caller,
        method: str,
        target: str,
        body: bytes = b"",
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """Answer ``method target`` (a path with its query) as ``caller``,
        in process: the same code as over HTTP, without reading a token (the
        caller's store, scopes and rate limit still apply). The status and
        the body, errors included, exactly as the HTTP answer's."""
        status, _headers, answer = await self.call(app, caller, method, target, body, content_type)
        return status, answer

    async def call(
        self,
        app: Starlette,
        caller: Caller,
        method: str,
        target: str,
        body: bytes = b"",
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, str], bytes]:
        """``invoke``, with the answer's headers (lower-cased names): a batch
        reads ``retry-after`` from them. ``target``'s path is percent-encoded
        as on the wire; it is decoded for routing, as the server does."""
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path)
        scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": path,
            "raw_path": raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [(b"content-type", content_type.encode("latin-1"))],
            "client": None,
            "server": None,
            "app": app,
            "state": {},
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:  # nothing more arrives, and the caller does not go away
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        request = Request(scope, receive)
        try:
            response = await self._answer(request, caller, scope, path)
        except VitrinaError as exc:
            response = error_response(exc)
        except Exception as exc:  # as the server's last handler answers (web/responses.py)
            log.exception("unexpected error", exc_info=exc)
            response = error_response(VitrinaError())
        chunks: list[bytes] = []

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await response(scope, receive, collect)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.raw_headers}
        return response.status_code, headers, b"".join(chunks)

    async def _answer(
        self, request: Request, caller: Caller, scope: dict[str, Any], path: str
    ) -> Response:
        method, allowed = scope["method"], False
        for operation, regex, prepared in self._compiled:
            match = regex.match(path)
            if match is None:
                continue
            if operation.method == method or (method == "HEAD" and operation.method == "GET"):
                scope["path_params"] = match.groupdict()
                return await _run(prepared, request, caller)
            allowed = True
        if allowed:  # the path is an operation's, the method is not: 405, as the router says
            raise MethodNotAllowed(f"Method {method} is not allowed for {path}")
        raise NotFound(f"No such resource: {method} {path}")
