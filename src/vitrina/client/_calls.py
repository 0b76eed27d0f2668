"""What each API call sends and what it answers, shared by the synchronous
and the asynchronous client; the retry rules; and the client's errors::

    ApiError (status, error_code, message)
    ├── NotFound (404)
    ├── Forbidden (401, 403)
    ├── RateLimited (429, once the retries ran out)
    ├── ServerError (5xx, once the retries ran out)
    └── BadResponse (an answer the client cannot use; with an excerpt)

A connection that fails, or a call over its total_timeout, is httpx's
TransportError (a TimeoutException for the deadline).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from vitrina import wire
from vitrina.client._sources import Upload
from vitrina.client._text import excerpt, printable

log = logging.getLogger("vitrina.client")

ECWID_API = "https://app.ecwid.com/api/v3"
PAGE = 100


class ApiError(Exception):
    """An error answer: ``status``, Ecwid's ``error_code`` and its ``message``."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(
            f"{status} {error_code}: {message}" if error_code else f"{status}: {message}"
        )
        self.status = status
        self.error_code = error_code
        self.message = message


class NotFound(ApiError):
    """404: the store, category or file does not exist."""


class Forbidden(ApiError):
    """403: the token is wrong, or lacks the scope."""


class RateLimited(ApiError):
    """429, after the retries ran out."""


class ServerError(ApiError):
    """5xx, after the retries ran out (where they apply)."""


class BadResponse(ApiError):
    """An answer the client cannot use: a redirect (API calls are never
    redirected), a body over ``max_response_bytes``, a body that is not JSON or
    not the shape the call answers, or pages that cannot end. ``excerpt`` is
    the start of the body, control characters removed."""

    def __init__(self, status: int, message: str, body: bytes = b"") -> None:
        self.excerpt = excerpt(body)
        shown = f"{message} (the answer began: {self.excerpt!r})" if self.excerpt else message
        super().__init__(status, "", shown)


@dataclass(frozen=True)
class Answer:
    """What the client keeps of an answer: its status, headers, and body,
    read up to the cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    reason: str = ""


def error_for(answer: Answer) -> ApiError:
    """An error answer as its ApiError (the server's message, made printable)."""
    try:
        body = msgspec.json.decode(answer.content, type=wire.Error)
        code, message = body.errorCode, body.errorMessage
    except (msgspec.DecodeError, msgspec.ValidationError):
        code, message = "", excerpt(answer.content, 300) or answer.reason
    kind = {404: NotFound, 403: Forbidden, 401: Forbidden, 429: RateLimited}.get(
        answer.status_code, ServerError if answer.status_code >= 500 else ApiError
    )
    return kind(answer.status_code, printable(code)[:100], printable(message)[:1000])


def redirect_refused(answer: Answer) -> BadResponse:
    location = printable(answer.headers.get("location", ""))[:300]
    to = f" to {location}" if location else ""
    return BadResponse(
        answer.status_code,
        f"The server answered {answer.status_code} (a redirect{to}) to an API call; the client "
        "follows no redirects: check the API's URL (it ends in /api/v3)",
    )


@dataclass(frozen=True)
class Retries:
    """Capped exponential backoff with full jitter. A 429 is always retried
    after its Retry-After; 5xx and connection errors only where a repeat is
    safe (GET, PUT, DELETE). A POST (an upload, a new category) is repeated
    only when the server cannot have acted on it: the connection failed, or
    it answered 429 or 503."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))

    def wait_for(
        self,
        attempt: int,
        idempotent: bool,
        response: Answer | httpx.Response | None,
        error: Exception | None,
    ) -> float | None:
        """Seconds to wait before another attempt, or None to give up."""
        if attempt + 1 >= self.attempts:
            return None
        if error is not None:
            if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
                return self.backoff(attempt)
            if idempotent and isinstance(error, httpx.TransportError):
                return self.backoff(attempt)
            return None
        assert response is not None
        status = response.status_code
        if status in (429, 503):
            after = _retry_after(response)
            if after is not None:
                return min(after, self.max_retry_after)
            if status == 429 or not idempotent:
                return self.backoff(attempt)
        if status >= 500 and idempotent:
            return self.backoff(attempt)
        return None

    def next_wait(
        self,
        call: Call,
        attempt: int,
        upload: Upload | None,
        response: Answer | None,
        error: Exception | None,
        time_left: float,
    ) -> float:
        """How long to wait before sending ``call`` again (logged at DEBUG);
        raises the error, or the answer as ApiError, when it is not sent again.
        A body that cannot be read again is never sent again, nor a call whose
        wait would outlast its total_timeout (``time_left``)."""
        wait = None
        if upload is None or upload.repeatable:
            wait = self.wait_for(attempt, call.idempotent, response, error)
        if wait is None or wait >= time_left:
            if error is not None:
                raise error
            assert response is not None
            raise error_for(response)
        why = str(error) if error is not None else str(response.status_code if response else "")
        log.debug(
            "retrying %s %s in %.2f s (attempt %d): %s",
            call.method,
            call.path,
            wait,
            attempt + 2,
            why,
        )
        return wait


def http_options(
    store_id: int, token: str, base_url: str, connect_timeout: float, read_timeout: float
) -> dict[str, Any]:
    """What the synchronous and the asynchronous httpx clients share."""
    return {
        "base_url": f"{base_url.rstrip('/')}/{store_id}",
        "headers": {"Authorization": f"Bearer {token}", "Accept": "application/json"},
        "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
    }


def _retry_after(response: Answer | httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class Call:
    """One request: its method, path under the store, and body."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "PUT", "DELETE", "HEAD")


def body(fields: msgspec.Struct | Mapping[str, Any]) -> Any:
    """A request body from a struct of vitrina.wire or a plain mapping."""
    if isinstance(fields, msgspec.Struct):
        return msgspec.to_builtins(fields)
    return dict(fields)


def search_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple | set | frozenset):
            value = ",".join(str(v) for v in value)
        out[name] = value
    return out
