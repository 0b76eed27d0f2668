"""Recording every API request to a store for the request log (the console's
view of what an app did): method, path, query without the token, status,
duration and errorCode. Never a token, an Authorization header or a body;
URLs in the query lose their credentials and query values (redaction.py).

The observer (web/observe.py) hands a bare tuple per request to a
``RequestRecorder``, which
writes them in batches from one thread, so a request never waits for the
log's write and costs only an append. A batch keeps at most the newest
REQUESTS_KEPT per store: under heavy load the log's writes stay bounded, and
what it drops would have been pruned anyway."""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime

from vitrina.domain import redaction
from vitrina.domain.seams import RequestLog
from vitrina.domain.values import REQUESTS_KEPT, RequestRecord

log = logging.getLogger("vitrina.requests")

_MAX_PENDING = 10_000


# (store id, epoch seconds, method, path, raw query, status, ms, errorCode)
Seen = tuple[int, float, str, str, bytes, int, float, str]


def _record(seen: Seen) -> RequestRecord:
    store_id, at, method, path, query, status, duration, error_code = seen
    return RequestRecord(
        store_id=store_id,
        at=datetime.fromtimestamp(at, UTC),
        method=method,
        path=path,
        query=redaction.query(query.decode("latin-1")),
        status=status,
        duration_ms=round(duration, 2),
        error_code=error_code,
    )


class RequestRecorder:
    """Batches what the middleware saw and writes it every ``interval`` seconds."""

    def __init__(self, sink: RequestLog, interval: float = 1.0) -> None:
        self.sink = sink
        self.interval = interval
        # appended by the event loop, taken by the writer (deque's append and
        # popleft are atomic); when the database is stuck the oldest go first
        self._pending: deque[Seen] = deque(maxlen=_MAX_PENDING)
        self._start = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def add(self, seen: Seen) -> None:
        self._pending.append(seen)
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(
                        target=self._run, name="vitrina-request-log", daemon=True
                    )
                    self._thread.start()

    def flush(self) -> None:
        """Write what is pending now (the log's readers call this first, so a
        process always reads its own requests)."""
        with self._start:  # one taker at a time: the writer, or a reader of the log
            queued = self._pending
            pending = [queued.popleft() for _ in range(len(queued))]
        if not pending:
            return
        per_store: dict[int, int] = {}
        newest_first: list[RequestRecord] = []
        for seen in reversed(pending):
            kept = per_store.get(seen[0], 0)
            if kept < REQUESTS_KEPT:
                per_store[seen[0]] = kept + 1
                newest_first.append(_record(seen))
        batch = newest_first[::-1]
        try:
            self.sink.record(batch)
        except Exception as exc:  # the log must never break the API
            log.warning("could not write %d request log entries: %s", len(batch), exc)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self.flush()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
