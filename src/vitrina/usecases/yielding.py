"""How background senders in a serving process give way to its requests
(``Yielding``): webhook deliveries inside ``vitrina serve`` (usecases/webhooks.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Yielding:
    """Sending yields to the requests of its process while they saturate it.

    In ``vitrina serve`` the senders share the process, and its interpreter
    lock, with the threads answering requests: while requests keep the
    process busy, whatever the senders take, the requests lose. So, window
    by window (a tenth of a second), a process that was answering requests
    for at least half of the window is busy: requests come faster than it
    answers them, or as fast, and a sender would make them wait. Then the
    senders together take at most ``SHARE`` of the window's time: a claim
    takes as many deliveries as fit in what is left of it (each one costing
    what a delivery has been costing), and the events go out when the burst
    ends. A process that merely receives requests, however many, with time
    between them is not busy, and its senders send at will. Never for long:
    once a delivery is claimed more than ``LAG_SECONDS`` after it fell due,
    the senders stop yielding until they catch up. A worker of its own
    (``vitrina worker``, or the parent of ``serve --workers N``) has no
    requests to yield to, and does not yield.

    ``answering``: the seconds so far during which the process was
    answering at least one request; ``clock``: the wall clock."""

    WINDOW = 0.1  # seconds
    BUSY = 0.5  # answering requests for this share of a window: busy
    SHARE = 0.02  # the senders' share of a busy window
    LAG_SECONDS = 10.0

    def __init__(
        self, answering: Callable[[], float], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._answering, self._clock = answering, clock
        self._lock = threading.Lock()
        self._start = clock()
        self._answered = answering()
        self._senders = 0.0  # CPU seconds the senders used in this window
        self._claiming = 0  # deliveries claims under way may take
        self._cost = 0.001  # CPU seconds a delivery takes, as recently measured
        self._busy = False
        self._behind = False

    def pause(self, most: int) -> tuple[float, int]:
        """``(wait, 0)``: wait this long before the next claim; ``(0, n)``:
        claim up to ``n`` deliveries now (then report with ``spent``)."""
        with self._lock:
            stamp = self._clock()
            wall = stamp - self._start
            if wall >= self.WINDOW:
                answered = self._answering()
                busy = (answered - self._answered) / wall >= self.BUSY
                self._busy, self._behind = busy and not self._behind, False
                self._start, self._answered, self._senders = stamp, answered, 0.0
                wall = 0.0
            fits = most
            if self._busy:
                room = self.SHARE * self.WINDOW - self._senders - self._claiming * self._cost
                fits = min(most, int(room / self._cost))
                if fits < 1:
                    return self.WINDOW - wall, 0
            self._claiming += fits
            return 0.0, fits

    def spent(self, seconds: float, claimed: int, sent: int, late: float | None) -> None:
        """A claim of up to ``claimed`` deliveries took ``seconds`` of CPU and
        sent ``sent``, the latest of them ``late`` seconds after it fell due
        (None: none was due)."""
        with self._lock:
            self._claiming -= claimed
            self._senders += seconds
            if sent:
                self._cost = 0.8 * self._cost + 0.2 * seconds / sent
            if late is not None and late > self.LAG_SECONDS:
                self._behind = True
