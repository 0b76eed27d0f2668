"""VITRINA_RATE_LIMIT_SHARED: one exact per-token limit for every process,
counted in the database; the default splits the limit between processes."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import Api, make_store
from vitrina.bootstrap import Services, build_services
from vitrina.settings import Settings
from vitrina.web.app import create_app


def test_two_processes_share_one_exact_limit(services: Services, settings: Settings) -> None:
    shared = settings.replace(rate_limit_per_minute=10, rate_limit_shared=True, workers=2)
    services.settings = shared
    with (
        build_services(shared) as other,
        TestClient(create_app(shared, services)) as first,
        TestClient(create_app(shared, other)) as second,
    ):
        a = make_store(services, first)
        b = Api(second, a.store_id, a.token)  # the same token, through the other process
        answers = [(a if n % 2 else b).get("/profile") for n in range(16)]
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) == 10, statuses  # exactly the limit, across both
    assert set(statuses[10:]) == {429}
    refused = answers[-1]
    assert refused.json()["errorCode"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_by_default_each_process_allows_its_share(services: Services, settings: Settings) -> None:
    split = settings.replace(rate_limit_per_minute=10, workers=2)
    services.settings = split
    with TestClient(create_app(split, services)) as client:
        api = make_store(services, client)
        statuses = [api.get("/profile").status_code for _ in range(8)]
    assert statuses.count(200) == 5  # 10 / 2 processes
