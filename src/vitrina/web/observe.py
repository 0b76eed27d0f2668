"""One pass over every HTTP request for what is observed about it: its
request id (``X-Request-Id``, honoured or made, returned on every answer and
on every log line of the request), its metrics (route template, method,
status, duration), its entry in the store's request log, and, with JSON
logs, one access line (``logs.AccessLines``). Pure ASGI: it sees the status as it is sent, never
a body's content."""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitrina import logs, metrics
from vitrina.web.request_log import RequestRecorder

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# vitrina's own extensions (/_requests, /_token, /_jobs) are the console's
# plumbing and are not in the request log.
_EXTENSION = "/api/v3/{storeId}/_"


class _Ids:
    """Request ids made here: 32 hex digits, a random prefix drawn once per
    process then a counter. As unique as a random UUID across processes and
    restarts, without a system call for randomness on every request."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _GIVEN_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return _ids.next()


_CONTROL = re.compile(r"[\x00-\x20\x7f-\xff]")


def _as_sent(scope: Scope) -> str:
    """The path as the client sent it, percent-encoded: what is written down
    of it (the access line, the request log) then holds no line break, NUL
    or escape a decoded path could (``%0A`` stays ``%0A``)."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    return _CONTROL.sub(lambda m: f"%{ord(m[0]):02X}", text)


class Activity:
    """How long this process has spent answering requests: the seconds so
    far during which at least one was under way (the webhook senders
    running beside them yield while requests keep the process busy:
    usecases/webhooks.py). Written on the event loop only; read anywhere."""

    def __init__(self) -> None:
        self.under_way = 0
        self._since = 0.0  # when the requests under way began to be
        self._answered = 0.0  # seconds with requests under way, up to _since

    def begin(self) -> None:
        if not self.under_way:
            self._since = time.monotonic()
        self.under_way += 1

    def end(self) -> None:
        self.under_way -= 1
        if not self.under_way:
            self._answered += time.monotonic() - self._since

    def answering(self) -> float:
        """Read from another thread without a lock: at worst a moment is
        counted twice or not at all, for one window of the senders."""
        since, under_way, answered = self._since, self.under_way, self._answered
        return answered + (time.monotonic() - since if under_way else 0.0)


class Observer:
    def __init__(
        self,
        app: ASGIApp,
        recorder: RequestRecorder | None,
        access: logs.AccessLines | None,
        activity: Activity | None = None,
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.access = access
        self.activity = activity or Activity()
        # route template, method, status -> the request counter's and
        # histogram's series (few: the route table is fixed)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = logs.request_id.set(rid)
        header = (b"x-request-id", rid.encode("ascii"))
        started, at = time.perf_counter(), time.time()
        status, sent = 500, 0

        async def sending(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        self.activity.begin()
        try:
            await self.app(scope, receive, sending)
        finally:
            self.activity.end()
            self._record(scope, rid, status, sent, at, time.perf_counter() - started)
            logs.request_id.reset(token)

    def _record(
        self, scope: Scope, rid: str, status: int, sent: int, at: float, seconds: float
    ) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope["method"]
        label = method if method in _METHODS else "other"  # a client can send any word
        counted = self._series.get((template, label, status))
        if counted is None:  # labels() is slow enough to matter on the hottest path
            counted = self._series[template, label, status] = (
                metrics.requests.labels(template, label, str(status)),
                metrics.request_seconds.labels(template, label),
            )
        counted[0].inc()
        counted[1].observe(seconds)
        state = scope.get("state", {})
        error_code = state.get("error_code", "") if status >= 400 else ""
        path = _as_sent(scope)
        # A store's log records only requests whose token the store's own
        # (auth.py says which store): a forged request cannot push out an
        # app's real ones, and the store id is the one the handler parsed.
        store_id: int | None = state.get("store_id")
        if (
            store_id is not None
            and self.recorder is not None
            and not template.startswith(_EXTENSION)
        ):
            self.recorder.add(
                (
                    store_id,
                    at,
                    method,
                    path,
                    scope.get("query_string", b""),
                    status,
                    seconds * 1000,
                    error_code,
                )
            )
        if self.access is not None:
            client = scope.get("client")
            self.access.add(
                (
                    at,
                    rid,
                    client[0] if client else "-",
                    method,
                    path,
                    scope.get("query_string", b""),
                    status,
                    seconds * 1000,
                    sent,
                    store_id,
                    template,
                    error_code,
                )
            )
