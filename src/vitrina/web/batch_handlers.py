"""Batch requests, as Ecwid's ``/batch`` (declared in web/api.py): create a
ticket, read it with its answers, list the token's tickets, delete one.
A ticket is seen only by the token that sent it (docs/differences.md).
The requests run in the background (usecases/batches.py, through
web/batch_calls.py)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.batches import (
    COMPLETED,
    FAILED,
    MAX_REQUESTS,
    METHODS,
    NOT_EXECUTED,
    BatchItem,
    Outcome,
)
from vitrina.domain.errors import BadRequest, VitrinaError
from vitrina.usecases import batches
from vitrina.web.operation import Call
from vitrina.web.params import read_json_value
from vitrina.web.responses import JSON
from vitrina.wire import reading as wire_input

# operations a batch may not hold: a batch inside a batch
_NOT_IN_A_BATCH = frozenset({"createBatch", "getBatch", "deleteBatch"})
NESTED = "a batch cannot hold batch requests"


def operation_of(store_id: int, method: str, target: str) -> str:
    """The ``operationId`` a batch request's ``target`` reaches ("" for
    none), routed as it will run: percent-escapes decoded, as the server
    decodes them (``/%62atch`` is ``/batch``)."""
    from vitrina.web.api import TABLE  # the table imports this module's handlers

    found = TABLE.find(method, unquote(f"/api/v3/{store_id}{target.partition('?')[0]}"))
    return found[0].operation_id if found else ""


def nested(store_id: int, method: str, target: str) -> bool:
    """Whether a batch request would run a batch operation."""
    return operation_of(store_id, method, target) in _NOT_IN_A_BATCH


def _refused(number: int, request_id: Any, message: str) -> BadRequest:
    shown = repr(request_id)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    named = f" (id {shown})" if request_id not in (None, msgspec.UNSET) else ""
    return BadRequest(f"Request {number}{named} of the batch: {message}")


def _item(store_id: int, position: int, data: Any) -> BatchItem:
    """One request of the batch, checked, as it will be sent."""
    number = position + 1
    if not isinstance(data, dict):
        raise BadRequest(f"Request {number} of the batch must be a JSON object")
    method = data.get("method")
    if isinstance(method, str):  # in any case, as HTTP clients send it
        if method.upper() not in METHODS:
            raise _refused(
                number,
                data.get("id"),
                f"'method' must be one of {', '.join(METHODS)}; got {method[:20]!r}",
            )
        data = {**data, "method": method.upper()}
    try:
        request = wire_input.read_exact(data, wire.BatchRequest)
    except VitrinaError as exc:
        raise _refused(number, data.get("id"), exc.message) from None
    method, sent = request.method.upper(), batches.target(request.path)
    body, content_type = batches.body_bytes(request.body), "application/json"
    operation = operation_of(store_id, method, sent)
    if operation in _NOT_IN_A_BATCH:
        raise _refused(number, request.id, NESTED)
    if operation == "uploadCategoryImage" and "externalUrl" not in parse_qs(sent.partition("?")[2]):
        url = request.body.get("externalUrl") if isinstance(request.body, dict) else None
        if not isinstance(url, str):
            raise _refused(
                number,
                request.id,
                "a batch uploads images only by externalUrl (in the path's query, as in "
                "/categories/12/image?externalUrl=https://…, or as the body "
                '{"externalUrl": "https://…"}): the image\'s bytes cannot be sent in a batch',
            )
        # the form the official Java client sends, which the single call reads too
        body, content_type = (
            urlencode({"externalUrl": url}).encode(),
            ("application/x-www-form-urlencoded"),
        )
    request_id = None if request.id in (None, msgspec.UNSET) else request.id
    assert not isinstance(request_id, msgspec.UnsetType)
    return BatchItem(position, request_id, method, sent, body, content_type)


async def create_batch(call: Call) -> Response:
    ctx = call.ctx
    data = await read_json_value(
        call.request, ctx.settings.batch_max_bytes, "a JSON list of requests"
    )
    if not isinstance(data, list):
        raise BadRequest(
            'The request body must be a JSON list of requests: [{"path": "/categories", '
            '"method": "POST", "body": {...}}, ...]'
        )
    if not data:
        raise BadRequest("The batch is empty; send from 1 to 500 requests")
    if len(data) > MAX_REQUESTS:
        raise BadRequest(
            f"A batch holds at most {MAX_REQUESTS} requests; this one has {len(data)}: "
            "send the rest in another batch"
        )
    items = [_item(call.store_id, n, item) for n, item in enumerate(data)]
    ticket = await run_in_threadpool(
        batches.create,
        ctx.services,
        call.store_id,
        call.who.key,
        items,
        call.args["stopOnFirstFailure"],
    )
    if ctx.batches is not None:
        ctx.batches.wake()
    return JSON(wire.BatchTicket(ticket=ticket))


def _ticket_named(call: Call) -> str | None:
    """``ticket`` or ``ticketId``: Ecwid's two doc sites name it each way."""
    ticket, ticket_id = call.args["ticket"], call.args["ticketId"]
    if ticket is not None and ticket_id is not None and ticket != ticket_id:
        raise BadRequest("Parameters 'ticket' and 'ticketId' name different tickets; send one")
    named: str | None = ticket if ticket is not None else ticket_id
    return named


def _answer(outcome: Outcome, escaped: bool) -> wire.BatchAnswer:
    request_id = msgspec.UNSET if outcome.request_id is None else outcome.request_id
    if outcome.skipped:
        return wire.BatchAnswer(id=request_id, status=NOT_EXECUTED)
    try:
        line = HTTPStatus(outcome.status).phrase
    except ValueError:
        line = ""
    answer = wire.BatchAnswer(
        id=request_id,
        status=COMPLETED if outcome.status == 200 else FAILED,
        httpStatusCode=outcome.status,
        httpStatusLine=line,
    )
    if escaped:
        answer.escapedHttpBody = outcome.body
    elif outcome.body.startswith(("{", "[")):  # JSON, as the API writes it: kept as it is
        answer.httpBody = msgspec.Raw(outcome.body.encode())
    else:  # no API answer is anything else; were one, it would be given as text
        answer.httpBody = msgspec.Raw(msgspec.json.encode(outcome.body))
    return answer


async def get_batch(call: Call) -> Response:
    """A ticket (``ticket`` or ``ticketId``), or the token's tickets."""
    ctx, named = call.ctx, _ticket_named(call)
    if named is not None:
        found = await run_in_threadpool(
            batches.get, ctx.services, call.store_id, call.who.key, named
        )
        escaped = call.args["escapedJson"]
        return JSON(
            wire.BatchStatus(
                status=found.status,
                totalRequests=found.total,
                completedRequests=found.completed,
                responses=[_answer(o, escaped) for o in found.outcomes],
            )
        )
    offset, limit = call.args["offset"], min(call.args["limit"], wire.MAX_PAGE)
    total, tickets = await run_in_threadpool(
        batches.listing,
        ctx.services,
        call.store_id,
        call.who.key,
        call.args["status"],
        offset,
        limit,
    )
    return JSON(
        wire.BatchList(
            total=total,
            count=len(tickets),
            offset=offset,
            limit=limit,
            items=[wire.BatchSummary(ticket=t.ticket, status=t.status) for t in tickets],
        )
    )


async def delete_batch(call: Call) -> Response:
    named = _ticket_named(call)
    if named is None:
        raise BadRequest("Parameter 'ticketId' is required: the ticket to delete")
    count = await run_in_threadpool(
        batches.delete, call.ctx.services, call.store_id, call.who.key, named
    )
    return JSON(wire.DeleteCount(deleteCount=count))
