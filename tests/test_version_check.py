"""The catalog-version check on PostgreSQL (metadata/async_versions.py),
against a real server: concurrent checks share round trips, yet none is
answered by a query that started before it asked, so a write committed
before a check is always seen."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import migrated
from vitrina.backends.metadata.async_versions import AsyncVersions
from vitrina.bootstrap import build_version_check
from vitrina.domain.errors import MetadataUnavailable
from vitrina.domain.values import CategoryChanges
from vitrina.settings import Settings

pytestmark = pytest.mark.slow


def _services(tmp_path: Path, url: str, s3: Any) -> Any:
    return migrated(Settings(data_dir=tmp_path, database_url=url, **s3.settings(uuid.uuid4().hex)))


def test_checks_under_load_share_queries_and_never_miss_a_committed_write(
    tmp_path: Path, postgres: Any, s3: Any
) -> None:
    with postgres.database() as url:
        services = _services(tmp_path, url, s3)
        catalog = services.metadata.catalog
        store = services.metadata.stores.create_store("Shop", "https://shop.example.com").id
        other = services.metadata.stores.create_store("Other", "https://other.example.com").id
        versions = build_version_check(services)
        assert isinstance(versions, AsyncVersions)

        async def scenario() -> None:
            stop = asyncio.Event()
            checked = 0

            async def reader(store_id: int) -> None:
                nonlocal checked
                while not stop.is_set():
                    assert await versions.version(store_id) is not None
                    checked += 1

            readers = [asyncio.create_task(reader(s)) for s in (store, other) * 16]
            try:
                for n in range(60):
                    await asyncio.sleep(random.random() / 1000)
                    # a write committed while checks that started before it
                    # are in flight (blocking the loop on purpose, so that
                    # none starts meanwhile), then a check asked at once
                    catalog.create_category(store, CategoryChanges(name=f"c{n}"))[0]
                    written, _ = catalog.catalog_snapshot(store, None)
                    assert await versions.version(store) == written
            finally:
                stop.set()
                await asyncio.gather(*readers)
            assert versions.queries < checked / 3, (versions.queries, checked)
            assert await versions.version(10**9) is None  # no such store
            await versions.aclose()

        try:
            asyncio.run(scenario())
        finally:
            services.close()


def test_a_caller_that_gives_up_leaves_the_others_their_answer(
    tmp_path: Path, postgres: Any, s3: Any
) -> None:
    with postgres.database() as url:
        services = _services(tmp_path, url, s3)
        store = services.metadata.stores.create_store("Shop", "https://shop.example.com").id
        versions = build_version_check(services)
        assert versions is not None

        async def scenario() -> None:
            waiting = [asyncio.create_task(versions.version(store)) for _ in range(20)]
            await asyncio.sleep(0)  # all asked; the query is under way
            for task in waiting[::2]:
                task.cancel()
            answers = await asyncio.gather(*waiting, return_exceptions=True)
            assert all(isinstance(a, asyncio.CancelledError) for a in answers[::2])
            assert all(a == answers[1] and isinstance(a, int) for a in answers[1::2])
            await versions.aclose()

        try:
            asyncio.run(scenario())
        finally:
            services.close()


def test_every_waiter_hears_that_the_database_is_unreachable(postgres: Any) -> None:
    import sqlalchemy as sa

    with postgres.database() as url:
        gone = sa.make_url(url).set(port=1, host="127.0.0.1")  # nothing listens on port 1
        versions = AsyncVersions(gone)

        async def scenario() -> list[BaseException | int | None]:
            answers = await asyncio.gather(
                *(versions.version(1) for _ in range(10)), return_exceptions=True
            )
            await versions.aclose()
            return answers

        answers = asyncio.run(scenario())
        assert all(isinstance(a, MetadataUnavailable) for a in answers), answers


def test_a_connection_the_database_dropped_is_replaced_unseen(
    tmp_path: Path, postgres: Any, s3: Any
) -> None:
    """The database ends the check's session (a restart or a failover does
    that): the next check reconnects and asks again, and no caller sees an error."""
    import sqlalchemy as sa

    with postgres.database() as url:
        services = _services(tmp_path, url, s3)
        store = services.metadata.stores.create_store("Shop", "https://shop.example.com").id
        versions = build_version_check(services)
        assert versions is not None
        engine = sa.create_engine(url)

        def end_the_check_session() -> int:
            with engine.connect() as conn:
                return len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE query LIKE '%vitrina_catalog_versions%' "
                            "AND pid <> pg_backend_pid()"
                        )
                    ).all()
                )

        async def scenario() -> None:
            first = await versions.version(store)
            assert end_the_check_session() == 1
            await asyncio.sleep(0.2)  # the end of the session may or may not have arrived
            assert await versions.version(store) == first
            assert end_the_check_session() == 1  # and once more, asking at once
            assert await asyncio.gather(*(versions.version(store) for _ in range(5))) == [first] * 5
            await versions.aclose()

        try:
            asyncio.run(scenario())
        finally:
            engine.dispose()
            services.close()
