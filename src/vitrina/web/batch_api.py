"""The operations of batch requests (Ecwid's /batch), declared as
web/api.py declares the others (web/operation.py says what a declaration
holds)."""

from __future__ import annotations

from vitrina import wire
from vitrina.domain.batches import MAX_REQUESTS, TICKET_STATUSES
from vitrina.web import batch_handlers
from vitrina.web.operation import API, Answer, Body, Operation
from vitrina.web.params import NOT_BLANK, OFFSET, Choice, Flag, Text, limit, query

# Batch requests (Ecwid's /batch): a ticket is seen by the token that sent it
BATCH = f"{API}/batch"
_TICKET = "The ticket that POST /batch answered"
TICKET = query("ticket", Text(**NOT_BLANK), _TICKET)
TICKET_ID = query("ticketId", Text(**NOT_BLANK), "The same, as docs.ecwid.com names it")
_BATCH_LINKS = {
    "GetBatch": {
        "operationId": "getBatch",
        "parameters": {"storeId": "$request.path.storeId", "ticket": "$response.body#/ticket"},
    },
    "DeleteBatch": {
        "operationId": "deleteBatch",
        "parameters": {"storeId": "$request.path.storeId", "ticketId": "$response.body#/ticket"},
    },
}
_BATCH_BODY = {
    "application/json": {
        "schema": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_REQUESTS,
            "items": {"$ref": "#/components/schemas/BatchRequest"},
        }
    }
}
_BATCH_ANSWERS = {
    "application/json": {
        "schema": {
            "oneOf": [
                {"$ref": "#/components/schemas/BatchStatus"},
                {"$ref": "#/components/schemas/BatchList"},
            ]
        }
    }
}

BATCH_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "createBatch",
        "POST",
        BATCH,
        "Send up to 500 API requests at once: they run in order, in the background, with "
        "this token's scopes",
        batch_handlers.create_batch,
        None,
        Answer(wire.BatchTicket, "The batch's ticket", links=_BATCH_LINKS),
        (400, 403, 413, 415, 429, 503),
        params=(
            query(
                "stopOnFirstFailure",
                Flag(),
                "Skip the requests after the first that fails (the default)",
                True,
            ),
        ),
        body=Body(
            content=_BATCH_BODY,
            description="The requests: each a path below /api/v3/{storeId} (a query too), a "
            "method and, for POST and PUT, a body. Images only by externalUrl.",
        ),
    ),
    Operation(
        "getBatch",
        "GET",
        BATCH,
        "A batch's status and its answers so far (with ticket or ticketId); without either, "
        "this token's batches",
        batch_handlers.get_batch,
        None,
        Answer(
            None,
            "A ticket's status and answers (BatchStatus), or a page of tickets (BatchList)",
            media=_BATCH_ANSWERS,
        ),
        (400, 403, 404, 429, 503),
        params=(
            TICKET,
            TICKET_ID,
            query("escapedJson", Flag(), "Each answer as text in escapedHttpBody", False),
            query("status", Choice(TICKET_STATUSES), "Listing: only tickets in this state"),
            OFFSET,
            limit("Listing: page size (at most 100 are answered)", wire.MAX_PAGE),
        ),
    ),
    Operation(
        "deleteBatch",
        "DELETE",
        BATCH,
        "Delete a batch: the requests it has not yet run never run",
        batch_handlers.delete_batch,
        None,
        Answer(wire.DeleteCount, "deleteCount 1, or 0 when there is no such ticket"),
        (400, 403, 429, 503),
        params=(TICKET_ID, TICKET),
    ),
)
