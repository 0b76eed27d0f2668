"""The webhook senders inside ``vitrina serve`` yield to a busy process
(usecases/webhooks.Yielding), on a clock the test moves."""

from __future__ import annotations

from vitrina.usecases.webhooks import BATCH, Yielding


class Clocks:
    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.requests = 0

    def run(self, seconds: float, cores: float) -> None:
        """``seconds`` pass while the process uses ``cores``."""
        self.wall += seconds
        self.cpu += seconds * cores


def _yielding(clocks: Clocks) -> Yielding:
    return Yielding(lambda: clocks.requests, clock=lambda: clocks.wall, cpu=lambda: clocks.cpu)


def test_an_idle_process_lets_the_senders_send_at_will() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    for _ in range(50):
        assert senders.pause(BATCH)[0] == 0.0
        clocks.run(0.01, cores=0.3)  # a delivery of 3 ms CPU each 10 ms
        senders.spent(0.003, BATCH, 1, late=0.0)


def test_a_busy_process_gets_nine_tenths_of_each_window() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    clocks.run(0.15, cores=1.5)  # requests keep one and a half cores busy
    wait, most = senders.pause(BATCH)  # a new window, judged busy: a claim of what fits
    assert wait == 0.0 and 1 <= most <= BATCH
    clocks.run(0.005, cores=1.5)
    senders.spent(0.004, most, 4, late=0.5)  # 1 ms a delivery
    wait, most = senders.pause(BATCH)
    assert wait == 0.0 and most == 6  # within the share: 4 ms spent, 6 more fit
    clocks.run(0.005, cores=1.5)
    senders.spent(0.006, most, 6, late=0.5)
    wait, most = senders.pause(BATCH)  # 10 ms spent: the window's tenth
    assert most == 0 and 0.08 < wait <= 0.09
    clocks.run(wait, cores=1.5)
    assert senders.pause(BATCH)[0] == 0.0  # the next window: a share again


def test_senders_stop_yielding_once_events_are_late() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    clocks.run(0.15, cores=1.5)
    wait, most = senders.pause(BATCH)
    assert wait == 0.0
    senders.spent(0.02, most, 1, late=Yielding.LAG_SECONDS + 1)  # a delivery more than 10 s late
    assert senders.pause(BATCH)[0] > 0  # the rest of this window still yields
    clocks.run(0.1, cores=1.5)
    for _ in range(10):  # the next window is not judged busy: no waits
        assert senders.pause(BATCH)[0] == 0.0
        senders.spent(0.02, BATCH, 1, late=Yielding.LAG_SECONDS + 1)


def test_the_senders_own_cpu_does_not_make_the_process_busy() -> None:
    clocks = Clocks()
    senders = _yielding(clocks)
    for _ in range(30):  # the senders alone use most of a core
        assert senders.pause(BATCH)[0] == 0.0
        clocks.run(0.01, cores=0.9)
        senders.spent(0.009, BATCH, 1, late=0.0)


def test_requests_coming_make_the_process_busy_whatever_its_cpu() -> None:
    """On a loaded machine the process may get little CPU while requests
    wait for it: requests begun count as busy on their own."""
    clocks = Clocks()
    senders = _yielding(clocks)
    clocks.run(0.15, cores=0.2)
    clocks.requests += 20
    wait, most = senders.pause(BATCH)
    assert wait == 0.0
    senders.spent(0.012, most, 1, late=0.0)  # more than the window's share
    assert senders.pause(BATCH)[0] > 0
    clocks.run(0.1, cores=0.2)  # a window without requests: not busy
    for _ in range(5):
        assert senders.pause(BATCH)[0] == 0.0
        senders.spent(0.012, BATCH, 1, late=0.0)
