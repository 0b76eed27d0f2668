"""The decode budget: N decodes at once, a bounded line in arrival order,
503 with Retry-After when the line is full."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests import sample_images as images
from tests.conftest import Api
from tests.processes import wait_until
from vitrina.bootstrap import Services
from vitrina.domain.errors import Overloaded
from vitrina.usecases.decode_budget import DecodeBudget


def _wait_for(condition: Callable[[], bool]) -> None:
    assert wait_until(condition, timeout=5), "timed out"


def test_waiters_keep_their_place_in_line() -> None:
    budget = DecodeBudget(slots=1, queue=10)
    order: list[int] = []
    release = threading.Event()

    def holder() -> None:
        with budget.slot():
            release.wait(5)

    def waiter(number: int) -> None:
        with budget.slot():
            order.append(number)

    first = threading.Thread(target=holder)
    first.start()
    _wait_for(lambda: budget.running == 1)
    threads = []
    for number in range(6):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        threads.append(thread)
        _wait_for(lambda n=number: budget.waiting == n + 1)  # type: ignore[misc]  # a default-argument lambda
    release.set()
    for thread in [first, *threads]:
        thread.join(5)
    assert order == list(range(6))
    assert budget.running == 0 and budget.waiting == 0


def test_a_full_line_is_refused_with_a_retry_time() -> None:
    budget = DecodeBudget(slots=2, queue=1)
    release = threading.Event()

    def hold() -> None:
        with budget.slot():
            release.wait(5)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: budget.running == 2 and budget.waiting == 1)
    with pytest.raises(Overloaded) as refused, budget.slot():
        pass
    assert refused.value.retry_after >= 1 and refused.value.status == 503
    with budget.slot(wait_always=True):  # async jobs wait whatever the line
        assert budget.running <= 2
    release.set()
    for thread in threads:
        thread.join(5)


@pytest.mark.embedded_only
def test_an_upload_past_the_line_gets_503_with_retry_after(api: Api, services: Services) -> None:
    services.decode_budget = DecodeBudget(slots=1, queue=0)
    category_id = api.create()
    with services.decode_budget.slot():  # a decode in progress
        response = api.upload(category_id, images.jpeg(800, 600))
    assert response.status_code == 503, response.text
    assert response.json()["errorCode"] == "SERVICE_UNAVAILABLE"
    assert int(response.headers["Retry-After"]) >= 1
    assert "busy" in response.json()["errorMessage"]
    assert "thumbnailUrl" not in api.category(category_id)
    assert api.upload(category_id, images.jpeg(800, 600)).status_code == 200
