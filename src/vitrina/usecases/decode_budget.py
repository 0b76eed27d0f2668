"""The decode budget: at most N image decodes at once in this process.

A decode of a large image holds tens to hundreds of megabytes while it runs,
so a burst of uploads must not decode all at once. Callers past the N running
wait in line, first come first served, and keep their place; the line is
bounded too, and a caller who finds it full is told to come back later
(``Overloaded``, answered ``503`` with ``Retry-After``). Async jobs wait
without a bound: the worker already runs only a few at a time.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from vitrina import metrics
from vitrina.domain.errors import Overloaded


class DecodeBudget:
    def __init__(self, slots: int, queue: int) -> None:
        self.slots = max(1, slots)
        self.queue = max(0, queue)
        self._cond = threading.Condition()
        self._running = 0
        self._line: deque[object] = deque()
        self._average = 0.5  # seconds a decode takes, a moving average

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def running(self) -> int:
        return self._running

    def _retry_after(self) -> int:
        return max(1, math.ceil((len(self._line) + 1) * self._average / self.slots))

    @contextmanager
    def slot(self, wait_always: bool = False) -> Iterator[None]:
        """Hold one of the N decode slots for the ``with`` block."""
        with self._cond:
            if self._running < self.slots and not self._line:
                self._running += 1
            else:
                if not wait_always and len(self._line) >= self.queue:
                    metrics.decode_refused.inc()
                    raise Overloaded(self._retry_after())
                ticket = object()
                self._line.append(ticket)
                metrics.decode_waiting.inc()
                waited = time.monotonic()
                try:
                    while not (self._line[0] is ticket and self._running < self.slots):
                        self._cond.wait()
                finally:
                    self._line.remove(ticket)
                    metrics.decode_waiting.dec()
                    metrics.decode_wait_seconds.observe(time.monotonic() - waited)
                    self._cond.notify_all()
                self._running += 1
        started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._average = 0.8 * self._average + 0.2 * (time.monotonic() - started)
                self._cond.notify_all()
