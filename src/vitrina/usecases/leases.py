"""Keeping a leased row's claim while its work runs (async uploads, batch
tickets): the lease is extended every third of its length, in a thread of
its own, so that slow work (a download, a wait for a decode slot) does not
let another worker take the row over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Self

from vitrina.domain.errors import Unavailable


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
