"""What the workers of leased rows (async uploads, webhook deliveries,
batch tickets) share: their runners' names in a lease, keeping a claim
while its work runs, and handing claims back when the worker stops.

A lease is extended every third of its length, in a thread of its own, so
that slow work (a download, a wait for a decode slot) does not let another
worker take the row over."""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Self, TypeVar

from vitrina.domain.errors import Unavailable

log = logging.getLogger("vitrina.leases")

T = TypeVar("T")
_RUNNER_NUMBERS = itertools.count(1)


def runner_name(kind: str) -> str:
    """A runner's name in the leases it holds: its host, process and number."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}{next(_RUNNER_NUMBERS)}"


def hand_back(
    threads: Sequence[threading.Thread],
    deadline: float,
    held: Callable[[], Iterable[T | None]],
    release: Callable[[T], None],
    name: Callable[[T], str],
) -> None:
    """A stopping worker: let its threads finish what they run until
    ``deadline`` (monotonic), then give back each claim still ``held``, so
    that another node takes it at once rather than when its lease runs out
    (which it does if the database is away now). ``name``: how the log
    names a claim."""
    for thread in threads:
        if thread.ident is not None:  # started
            thread.join(max(0.0, deadline - time.monotonic()))
    for claim in held():
        if claim is None:
            continue
        try:
            release(claim)
            log.info("%s released for another worker", name(claim))
        except Unavailable:
            pass  # its lease runs out instead


class LeaseKeeper:
    """``extend`` renews the lease, and answers False once the claim is
    lost (the row was taken over, finished or deleted): then ``lost`` is
    set and renewing stops. A database that is away is tried again at the
    next third: the lease runs on meanwhile."""

    def __init__(
        self, extend: Callable[[], bool], lease_seconds: float, name: str = "vitrina-lease"
    ) -> None:
        self.extend = extend
        self.lease_seconds = lease_seconds
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _keep(self) -> None:
        while not self._done.wait(self.lease_seconds / 3):
            try:
                if not self.extend():
                    self.lost = True
                    return
            except Unavailable:
                pass  # the database is away: the lease runs on, and the next try may work
