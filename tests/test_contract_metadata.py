"""The MetadataStore contract, run over every implementation (SQLite and
PostgreSQL, through the parametrised ``services`` fixture)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest, CategoryNotFound
from vitrina.domain.seams import MetadataStore
from vitrina.domain.values import (
    CREATED,
    DELETED,
    UPDATED,
    CategoryChanges,
    Change,
    Consequences,
    StoredFile,
)


def _files(first_id: int, ext: str = "jpg") -> list[StoredFile]:
    roles = ("original", "thumbnail", "hd", "image")
    return [
        StoredFile(first_id + i, role, ext, "image/jpeg", 10, 10, 100, f"e{first_id + i}")
        for i, role in enumerate(roles)
    ]


@pytest.fixture
def store(services: Services) -> MetadataStore:
    return services.metadata


def test_stores_and_tokens(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test", 300, 1000)
    assert store.stores.get_store(shop.id) == shop
    assert (shop.thumbnail_size, shop.image_size) == (300, 1000)
    assert store.stores.get_store(shop.id + 100) is None
    token = store.stores.add_token(
        shop.id, "h" * 64, "secret", frozenset({"read_catalog"}), "secret_abc"
    )
    assert store.stores.find_token("h" * 64) == token
    assert store.stores.find_token("x" * 64) is None
    assert store.stores.revoke_token("h" * 64) is True
    assert store.stores.revoke_token("h" * 64) is False
    found = store.stores.find_token("h" * 64)
    assert found is not None and found.revoked
    assert [t.id for t in store.stores.list_tokens(shop.id)] == [token.id]


def test_categories(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    top = store.catalog.create_category(shop.id, CategoryChanges(name="Top", product_ids=(3, 1)))[0]
    child = store.catalog.create_category(shop.id, CategoryChanges(name="Child", parent_id=top))[0]
    got = store.catalog.get_category(shop.id, child)
    assert got is not None and got.parent_id == top and got.order_by == 10
    assert store.catalog.get_category(shop.id + 1, child) is None  # stores never see each other
    with pytest.raises(CategoryNotFound):
        store.catalog.create_category(shop.id, CategoryChanges(name="X", parent_id=999_999))
    with pytest.raises(BadRequest):
        store.catalog.update_category(shop.id, top, CategoryChanges(parent_id=child))
    moved = store.catalog.update_category(
        shop.id, child, CategoryChanges(parent_id=None, enabled=False)
    )
    assert moved is not None and moved.changes == [Change(UPDATED, shop.id, child)]
    assert store.catalog.update_category(shop.id, 999_999, CategoryChanges(name="X")) is None
    assert [c.id for c in store.catalog.list_categories(shop.id)] == [top, child]
    grandchild, made = store.catalog.create_category(
        shop.id, CategoryChanges(name="Grandchild", parent_id=child)
    )
    assert made.changes == [Change(CREATED, shop.id, grandchild)]
    gone = store.catalog.delete_category(shop.id, child)
    assert gone is not None and gone.orphans == []
    assert sorted(c.category_id for c in gone.changes) == [child, grandchild]
    assert {c.event for c in gone.changes} == {DELETED}
    assert store.catalog.delete_category(shop.id, child) is None


def test_file_ids_are_unique_even_when_allocated_concurrently(store: MetadataStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        blocks = list(pool.map(lambda _: store.images.allocate_file_ids(4), range(40)))
    ids = [i for block in blocks for i in block]
    assert len(ids) == len(set(ids)) == 160
    for block in blocks:
        assert block == list(range(block[0], block[0] + 4))


def test_attach_detach_and_file_lookup(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    category = store.catalog.create_category(shop.id, CategoryChanges(name="C"))[0]
    first = store.images.allocate_file_ids(4)
    attached = store.images.attach_image(shop.id, category, first[1], _files(first[0]), {"b": 1})
    assert attached is not None and attached.orphans == []
    assert attached.changes == [Change(UPDATED, shop.id, category)]
    found = store.images.find_file(shop.id, first[2])
    assert found is not None and found.role == "hd"
    assert store.images.find_file(shop.id + 1, first[2]) is None
    second = store.images.allocate_file_ids(4)
    replaced = store.images.attach_image(shop.id, category, second[1], _files(second[0]), {"b": 2})
    assert replaced is not None
    assert sorted(replaced.orphans) == sorted(f"{shop.id}/{i}.jpg" for i in first)
    assert replaced.abandoned == [first[1]]  # any job of the replaced image waits no more
    keys = [f"{shop.id}/{i}.jpg" for i in first + second]
    assert store.images.referenced_keys(keys) == {f"{shop.id}/{i}.jpg" for i in second}
    assert store.images.attach_image(shop.id, 999_999, 5, _files(5), {}) is None
    detached = store.images.detach_image(shop.id, category)
    assert detached is not None and detached.changes == [Change(UPDATED, shop.id, category)]
    assert detached.orphans == [f"{shop.id}/{i}.jpg" for i in second]
    again = store.images.detach_image(shop.id, category)
    assert again is not None and again.changes == [] and again.orphans == []


def test_concurrent_attaches_leave_exactly_one_image(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    category = store.catalog.create_category(shop.id, CategoryChanges(name="C"))[0]

    def attach(_: int) -> list[str]:
        ids = store.images.allocate_file_ids(4)
        done = store.images.attach_image(shop.id, category, ids[1], _files(ids[0]), {})
        assert done is not None
        return done.orphans

    with ThreadPoolExecutor(8) as pool:
        released = [key for keys in pool.map(attach, range(24)) for key in keys]
    current = store.catalog.get_category(shop.id, category)
    assert current is not None and current.image is not None
    live = {f"{shop.id}/{f.id}.{f.ext}" for f in current.image.files}
    assert len(live) == 4
    assert len(released) == len(set(released)) == 23 * 4  # every replaced image released once
    assert not live & set(released)


def test_jobs_are_claimed_once_and_only_the_newest_claim_finishes(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    category = store.catalog.create_category(shop.id, CategoryChanges(name="C"))[0]
    ids = store.images.allocate_file_ids(4)
    started = store.jobs.start_async_image(
        shop.id, category, ids[1], "https://x.test/a.jpg", 5, 6, "ext", None
    )
    assert started is not None and started.orphans == []
    assert started.changes == [Change(UPDATED, shop.id, category)]
    job = store.jobs.claim_job("worker-a", lease_seconds=1)
    assert job is not None and job.attempts == 1
    assert store.jobs.claim_job("worker-b", lease_seconds=1) is None  # leased
    time.sleep(1.2)
    again = store.jobs.claim_job("worker-b", lease_seconds=60)  # worker-a died: lease ran out
    assert again is not None and again.attempts == 2
    assert store.jobs.finish_job(job, _files(ids[0]), {}) == Consequences()  # stale: ignored
    finished = store.jobs.finish_job(again, _files(ids[0]), {"x": 1})
    assert finished.orphans == [] and finished.changes == [Change(UPDATED, shop.id, category)]
    [done] = store.jobs.list_jobs(state="done")
    assert done.id == job.id
    current = store.catalog.get_category(shop.id, category)
    assert current is not None and current.image is not None
    assert current.image.pending_url is None and len(current.image.files) == 4


def test_failed_jobs_retry_then_restore_the_previous_image(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    category = store.catalog.create_category(shop.id, CategoryChanges(name="C"))[0]
    old = store.images.allocate_file_ids(4)
    store.images.attach_image(shop.id, category, old[1], _files(old[0]), {})
    new = store.images.allocate_file_ids(4)
    store.jobs.start_async_image(
        shop.id, category, new[1], "https://x.test/a.jpg", 1, 1, None, None
    )
    job = store.jobs.claim_job("w", 60)
    assert job is not None
    assert store.jobs.fail_job(job, "timed out", retry_in=0) == Consequences()
    [queued] = store.jobs.list_jobs(state="queued")
    assert queued.last_error == "timed out"
    job = store.jobs.claim_job("w", 60)
    assert job is not None
    failed_done = store.jobs.fail_job(job, "HTTP 404", retry_in=None)
    assert failed_done.changes == [Change(UPDATED, shop.id, category)]  # back to the old one
    assert failed_done.abandoned == [new[1]]
    [failed] = store.jobs.list_jobs(state="failed")
    assert failed.last_error == "HTTP 404" and failed.attempts == 2
    current = store.catalog.get_category(shop.id, category)
    assert current is not None and current.image is not None and current.image.id == old[1]


def _hash(n: int) -> str:
    return f"{n:064x}"


def test_a_signin_code_is_redeemed_once_for_a_session_with_its_scopes(
    store: MetadataStore,
) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    other = store.stores.create_store("Other", "https://other.test")
    soon = datetime.now(UTC) + timedelta(minutes=10)
    later = datetime.now(UTC) + timedelta(hours=12)
    store.signins.add_code(shop.id, _hash(1), frozenset({"read_catalog"}), soon)
    # another store's code is unknown here, and stays usable
    assert store.signins.redeem_code(other.id, _hash(1), _hash(2), "secret_x", later).outcome == (
        "unknown"
    )
    assert store.stores.find_token(_hash(2)) is None
    redeemed = store.signins.redeem_code(shop.id, _hash(1), _hash(3), "secret_abc", later)
    assert redeemed.outcome == "ok" and redeemed.token is not None
    session = store.stores.find_token(_hash(3))
    assert session == redeemed.token
    assert session.store_id == shop.id and session.kind == "secret"
    assert session.scopes == {"read_catalog"} and session.hint == "secret_abc"
    assert session.expires_at is not None
    assert abs((session.expires_at - later).total_seconds()) < 1
    assert not session.revoked
    # a second use fails, makes no token, and ends the session the first made
    again = store.signins.redeem_code(shop.id, _hash(1), _hash(4), "secret_def", later)
    assert again.outcome == "used" and again.token is None
    assert store.stores.find_token(_hash(4)) is None
    ended = store.stores.find_token(_hash(3))
    assert ended is not None and ended.revoked
    assert store.signins.redeem_code(shop.id, _hash(99), _hash(5), "x", later).outcome == "unknown"
    # long-lived tokens have no expiry
    kept = store.stores.add_token(shop.id, _hash(6), "secret", frozenset({"read_catalog"}), "s")
    assert kept.expires_at is None


def test_an_expired_signin_code_is_refused_and_pruned_later(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    past = datetime.now(UTC) - timedelta(seconds=1)
    later = datetime.now(UTC) + timedelta(hours=1)
    store.signins.add_code(shop.id, _hash(1), frozenset({"read_catalog"}), past)
    assert store.signins.redeem_code(shop.id, _hash(1), _hash(2), "x", later).outcome == "expired"
    assert store.stores.find_token(_hash(2)) is None
    # an expired session token is still found (the caller judges it) until pruned
    long_ago = datetime.now(UTC) - timedelta(days=2)
    store.signins.add_code(shop.id, _hash(3), frozenset({"read_catalog"}), later)
    assert store.signins.redeem_code(shop.id, _hash(3), _hash(4), "x", past).outcome == "ok"
    stale = store.stores.find_token(_hash(4))
    assert stale is not None and stale.expires_at is not None and stale.expires_at < later
    store.signins.add_code(shop.id, _hash(5), frozenset({"read_catalog"}), long_ago)
    kept = store.stores.add_token(shop.id, _hash(6), "secret", frozenset({"read_catalog"}), "s")
    # making a new code drops expired session tokens and codes of no more use
    store.signins.add_code(shop.id, _hash(7), frozenset({"read_catalog"}), later)
    assert store.stores.find_token(_hash(4)) is None
    assert store.stores.find_token(_hash(6)) == kept
    assert store.signins.redeem_code(shop.id, _hash(5), _hash(8), "x", later).outcome == "unknown"
    assert store.signins.redeem_code(shop.id, _hash(1), _hash(8), "x", later).outcome == "expired"
    assert store.signins.redeem_code(shop.id, _hash(7), _hash(8), "x", later).outcome == "ok"


def test_concurrent_redemptions_of_one_code_give_one_session(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    later = datetime.now(UTC) + timedelta(hours=1)
    store.signins.add_code(shop.id, _hash(1), frozenset({"read_catalog"}), later)

    def redeem(n: int) -> str:
        return store.signins.redeem_code(shop.id, _hash(1), _hash(100 + n), "x", later).outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(redeem, range(16)))
    assert sorted(outcomes) == ["ok"] + ["used"] * 15
    made = [store.stores.find_token(_hash(100 + n)) for n in range(16)]
    assert len([t for t in made if t is not None]) == 1


def test_jobs_of_images_nothing_waits_for_are_cancelled(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test")
    category = store.catalog.create_category(shop.id, CategoryChanges(name="C"))[0]
    waiting = store.images.allocate_file_ids(4)
    store.jobs.start_async_image(
        shop.id, category, waiting[1], "https://x.test/a.jpg", 1, 1, None, None
    )
    ready = store.images.allocate_file_ids(4)
    replaced = store.images.attach_image(shop.id, category, ready[1], _files(ready[0]), {})
    assert replaced is not None and replaced.abandoned == [waiting[1]]
    assert [j.state for j in store.jobs.list_jobs()] == ["queued"]  # until the commit's follow-up
    assert store.jobs.cancel_jobs(replaced.abandoned) == 1
    [job] = store.jobs.list_jobs()
    assert job.state == "cancelled" and "replaced or deleted" in job.last_error
    assert store.jobs.cancel_jobs(replaced.abandoned) == 0
    assert store.jobs.claim_job("w", 60) is None
