"""A batch's requests, run through the operation table (web/api.py's
``TABLE``) in process: the same code as the HTTP call, as the batch's
token, looked up afresh for each request (a revoked token stops acting at
once). The table's calls run on the event loop that serves the app, since
the read caches belong to it; the batch worker's threads hand them over
and wait (usecases/batches.py).

``vitrina serve`` runs its worker in the app's lifespan (web/app.py);
``vitrina worker``, which serves no HTTP, runs the app's operations on an
event loop of its own (``standalone``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from starlette.applications import Starlette

from vitrina.bootstrap import Services
from vitrina.domain.batches import RUNNING, Answered, BatchItem, Claim, Running
from vitrina.domain.errors import BadRequest, InvalidToken
from vitrina.usecases.batches import BatchWorker, NotRun
from vitrina.web.api import TABLE
from vitrina.web.batch_handlers import NESTED, nested
from vitrina.web.context import Context
from vitrina.web.responses import error_response

log = logging.getLogger("vitrina.batches")
T = TypeVar("T")
Submit = Callable[[Callable[[], Awaitable[Any]]], Any]


def on_loop(loop: asyncio.AbstractEventLoop) -> Submit:
    """Run a coroutine on ``loop`` (from another thread) and wait for it."""

    def submit(make: Callable[[], Awaitable[T]]) -> T:
        if loop.is_closed():
            raise NotRun()

        async def run() -> T:
            return await make()

        try:
            future = asyncio.run_coroutine_threadsafe(run(), loop)
        except RuntimeError:  # the loop closed just now
            raise NotRun() from None
        return future.result()

    return submit


class TableCalls:
    """``SubRequests`` for the batch worker: one request as the single call."""

    def __init__(self, app: Starlette, submit: Submit) -> None:
        self.app = app
        self.submit = submit
        self.ctx = Context.of_app(app)

    def run(self, claim: Claim, item: BatchItem) -> Answered:
        store_id = claim.store_id
        caller = self.ctx.auth.fresh(claim.token_hash)
        if caller is None:  # revoked, expired, or its store is gone
            refused = error_response(InvalidToken())
            return Answered(refused.status_code, bytes(refused.body))
        if nested(store_id, item.method, item.target):  # refused when sent; kept by an older one
            refused = error_response(BadRequest(f"Request {item.position + 1}: {NESTED}"))
            return Answered(refused.status_code, bytes(refused.body))
        target = f"/api/v3/{store_id}{item.target}"

        running = Running(claim.id, item.position, claim.number)

        async def call() -> tuple[int, dict[str, str], bytes]:
            RUNNING.set(running)  # this task's, and the threads' it hands work to
            return await TABLE.call(
                self.app, caller, item.method, target, item.body, item.content_type
            )

        status, headers, body = self.submit(call)
        retry = headers.get("retry-after") if status == 429 else None
        return Answered(status, body, float(retry) if retry and retry.isdigit() else None)


class Standalone:
    """The batch worker of a process that serves no HTTP (``vitrina
    worker``): the app, built for its operations only, on an event loop in
    a thread of its own."""

    def __init__(self, app: Starlette, services: Services) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="vitrina-batch-loop", daemon=True
        )
        self.worker = BatchWorker(services, TableCalls(app, on_loop(self.loop)))
        self.ctx = Context.of_app(app)

    def start(self) -> None:
        self._thread.start()
        self.worker.start()

    def stop(self, timeout: float = 10) -> None:
        self.worker.stop(timeout)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.ctx.catalog.versions.aclose(), self.loop).result(
                5
            )
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def standalone(services: Services) -> Iterator[Standalone]:
    """A started batch worker without an HTTP server; stopped on leaving."""
    from vitrina.web.app import create_app  # the app module starts this worker itself

    settings = services.settings.replace(run_jobs=False, request_log=False, access_log=False)
    worker = Standalone(create_app(settings, services), services)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(services.settings.shutdown_grace_seconds)
