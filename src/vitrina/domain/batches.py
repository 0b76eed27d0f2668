"""Batch requests (Ecwid's ``/batch``): a ticket holds up to ``MAX_REQUESTS``
API requests of one store, run in order, in the background, as the token
that sent them; each request's answer is kept with the ticket.

The values the layers exchange about them, and the words of the wire for
their states. A ticket is ``open`` until every request has an outcome, then
``done``; an open ticket is being run while a worker's lease on it holds.
A request is ``waiting``, ``done`` (answered) or ``skipped`` (not run: an
earlier one failed with stopOnFirstFailure). A waiting request is
``applied`` once a write transaction of it has committed: every write
made while ``RUNNING`` names it marks it so in that same transaction, and
only while the claim that runs it holds (backends/metadata/sql_base.py).
A request applied but not answered was cut short after it took effect.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

MAX_REQUESTS = 500  # per ticket, as Ecwid
METHODS = ("GET", "POST", "PUT", "DELETE")

# the ticket's status on the wire
TicketStatus = Literal["QUEUED", "IN_PROGRESS", "COMPLETED"]
QUEUED: Final = "QUEUED"
IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
TICKET_STATUSES = (QUEUED, IN_PROGRESS, COMPLETED)
# a request's status on the wire
AnswerStatus = Literal["COMPLETED", "FAILED", "NOT_EXECUTED"]
FAILED: Final = "FAILED"
NOT_EXECUTED: Final = "NOT_EXECUTED"


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch, as it will be sent: ``target`` is the path
    below ``/api/v3/{storeId}`` with its query, in ASCII (percent-encoded);
    ``body`` the bytes of its body (empty: none)."""

    position: int  # from 0, in the order sent
    request_id: str | int | None  # the client's "id", given back as it came
    method: str
    target: str
    body: bytes = b""
    content_type: str = "application/json"
    applied: bool = False  # a write of it committed, and its answer was never recorded


@dataclass(frozen=True)
class Outcome:
    """What a request came to: its answer, or ``skipped``."""

    position: int
    request_id: str | int | None
    skipped: bool = False
    status: int = 0
    body: str = ""


@dataclass(frozen=True)
class Ticket:
    ticket: str
    store_id: int
    open: bool
    total: int
    completed: int  # requests answered (skipped ones are not)
    stop_on_failure: bool
    created_at: datetime
    outcomes: tuple[Outcome, ...] = field(default=(), compare=False, repr=False)

    @property
    def status(self) -> TicketStatus:
        if not self.open:
            return COMPLETED
        return IN_PROGRESS if self.completed else QUEUED


@dataclass(frozen=True)
class Claim:
    """A worker's hold on an open ticket: ``number`` tells its claims apart,
    so a worker whose lease ran out cannot record anything once another
    has taken the ticket over."""

    id: int
    ticket: str
    store_id: int
    token_hash: str  # who the requests run as
    number: int
    total: int = 0  # the ticket's requests
    stop_on_failure: bool = True
    worker: str = ""  # the runner holding it


@dataclass(frozen=True)
class Answered:
    """A request's answer, as the single call would have given it; with
    ``retry_after`` (seconds) when it was refused before it did anything
    and may be sent again then (429: the rate limit)."""

    status: int
    body: bytes
    retry_after: float | None = None


@dataclass(frozen=True)
class Running:
    """The batch request being run, for the write transactions it makes:
    ``claim`` is the number of the claim running it (``Claim.number``)."""

    ticket_id: int
    position: int
    claim: int


# Set (per task, inherited by the threads it hands work to) while a batch
# request runs; None otherwise.
RUNNING: ContextVar[Running | None] = ContextVar("vitrina_batch_request", default=None)
