"""Reading an answer: its body up to a cap and within the call's deadline,
then its JSON into the structs of vitrina.wire. What cannot be used is a
BadResponse, never a decoder's exception."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import httpx
import msgspec

from vitrina.client._calls import Answer, BadResponse, redirect_refused
from vitrina.client._transport import Deadline
from vitrina.domain.byte_cap import ByteCap

T = TypeVar("T")

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
ERROR_BYTES = 64 * 1024  # of an error or a redirect, only its message is wanted


class _Body:
    """The bytes of one answer as they arrive. A success over the cap is a
    BadResponse (a declared length over it, before reading); any other answer
    is cut short at ERROR_BYTES."""

    def __init__(self, response: httpx.Response, limit: int, deadline: Deadline) -> None:
        self.status = response.status_code
        self.deadline = deadline
        self.data = bytearray()
        self.whole = 200 <= self.status < 300
        self.cap = ByteCap(limit if self.whole else ERROR_BYTES, self._too_big)
        if self.whole and not response.headers.get("content-encoding"):
            self.cap.declared(response.headers.get("content-length", ""))

    def _too_big(self) -> BadResponse:
        return BadResponse(
            self.status,
            f"The answer is larger than max_response_bytes ({self.cap.limit} bytes)",
            bytes(self.data),
        )

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; False once enough is kept."""
        if self.deadline.left() <= 0:  # for a transport given by the caller
            raise self.deadline.passed(httpx.ReadTimeout)
        if self.whole:
            self.data += self.cap.add(chunk)
            return True
        self.data += chunk[: self.cap.limit - len(self.data)]
        return len(self.data) < self.cap.limit


def _answer(response: httpx.Response, body: _Body) -> Answer:
    return Answer(response.status_code, response.headers, bytes(body.data), response.reason_phrase)


def read(response: httpx.Response, limit: int, deadline: Deadline) -> Answer:
    """The answer of a streamed ``response``, which this closes."""
    try:
        body = _Body(response, limit, deadline)
        chunks: Iterator[bytes] = response.iter_bytes()
        for chunk in chunks:
            if not body.add(chunk):
                break
    finally:
        response.close()
    return _answer(response, body)


async def aread(response: httpx.Response, limit: int, deadline: Deadline) -> Answer:
    try:
        body = _Body(response, limit, deadline)
        chunks: AsyncIterator[bytes] = response.aiter_bytes()
        async for chunk in chunks:
            if not body.add(chunk):
                break
    finally:
        await response.aclose()
    return _answer(response, body)


def refuse_redirect(response: httpx.Response) -> None:
    """A response hook: an API call is never redirected, and a 3xx is a
    BadResponse, raised before httpx reads its Location (or the body)."""
    if 300 <= response.status_code < 400:
        raise redirect_refused(Answer(response.status_code, response.headers, b""))


async def arefuse_redirect(response: httpx.Response) -> None:
    refuse_redirect(response)


def decode(answer: Answer, kind: type[T]) -> T:
    """The body as ``kind``; BadResponse when it is not JSON or not that shape."""
    try:
        return msgspec.json.decode(answer.content, type=kind)
    except msgspec.ValidationError as exc:
        problem = f"The answer is not what this call returns: {exc}"
    except msgspec.DecodeError as exc:
        problem = f"The answer is not valid JSON: {exc}"
    raise BadResponse(answer.status_code, problem, answer.content)
