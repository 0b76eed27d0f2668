"""The webhook senders inside ``vitrina serve`` yield to a process that
requests keep busy (usecases/yielding.Yielding), on a clock the test moves."""

from __future__ import annotations

from vitrina.usecases.webhooks import BATCH
from vitrina.usecases.yielding import Yielding


class Clocks:
    def __init__(self) -> None:
        self.wall = 0.0
        self.answering = 0.0  # seconds with a request under way

    def run(self, seconds: float, answering: float) -> None:
        """``seconds`` pass, requests under way for ``answering`` of them."""
        self.wall += seconds
        self.answering += seconds * answering


def _yielding(clocks: Clocks) -> Yielding:
    return Yielding(lambda: clocks.answering, clock=lambda: clocks.wall)


def test_an_idle_process_lets_the_senders_send_whole_batches_at_will() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    for _ in range(50):
        assert senders.pause(BATCH) == (0.0, BATCH)
        clocks.run(0.01, answering=0.0)
        senders.spent(0.003, BATCH, 10, late=0.0)


def test_a_process_that_merely_receives_requests_is_not_busy() -> None:
    """Requests come all the time, each answered before the next: the
    process answers for a third of each window, and the senders send at will."""
    clocks = Clocks()
    senders = _yielding(clocks)
    for _ in range(30):
        clocks.run(0.02, answering=0.3)
        assert senders.pause(BATCH) == (0.0, BATCH)
        senders.spent(0.004, BATCH, 16, late=0.0)


def test_a_saturated_process_keeps_all_but_a_sliver_of_each_window() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    senders.spent(0.0, 0, 1, late=0.0)  # a delivery costs about 0.8 ms
    clocks.run(0.15, answering=1.0)  # requests under way all the time
    wait, most = senders.pause(BATCH)  # a new window, judged busy: a claim of what fits
    room = Yielding.SHARE * Yielding.WINDOW
    assert wait == 0.0 and 1 <= most < BATCH
    clocks.run(0.005, answering=1.0)
    senders.spent(room, most, most, late=0.5)  # the share is used up
    wait, most = senders.pause(BATCH)
    assert most == 0 and 0.09 < wait <= 0.095  # the rest of the window is the requests'
    clocks.run(wait, answering=1.0)
    wait, most = senders.pause(BATCH)  # the next window: a share again
    assert wait == 0.0 and most >= 1


def test_claims_under_way_count_against_the_share() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    clocks.run(0.15, answering=1.0)
    claims = []
    while (allowed := senders.pause(BATCH))[0] == 0.0:
        claims.append(allowed[1])
        assert len(claims) < 100
    assert sum(claims) * 0.001 <= Yielding.SHARE * Yielding.WINDOW + 1e-9  # 1 ms each, planned
    senders.spent(0.0005, claims[0], 0, late=None)  # one claim found nothing due
    assert senders.pause(BATCH)[0] == 0.0  # what it had planned is free again


def test_senders_stop_yielding_once_events_are_late() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    clocks.run(0.15, answering=1.0)
    _, most = senders.pause(BATCH)
    senders.spent(0.02, most, most, late=Yielding.LAG_SECONDS + 1)  # more than 10 s late
    assert senders.pause(BATCH)[0] > 0  # the rest of this window still yields
    clocks.run(0.1, answering=1.0)
    for _ in range(10):  # the next window is not judged busy: whole batches, no waits
        assert senders.pause(BATCH) == (0.0, BATCH)
        senders.spent(0.02, BATCH, BATCH, late=Yielding.LAG_SECONDS + 1)
