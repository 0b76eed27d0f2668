"""Apps and the webhook outbox, over every metadata store (SQLite and
PostgreSQL): an event is written in the transaction of its change (and only
when that commits), for the apps that want it; deliveries are claimed with
a lease, apps take turns, and only the newest claim records an outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.webhook_queue import claim_one, finish_one
from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest
from vitrina.domain.seams import MetadataStore
from vitrina.domain.values import (
    APPLICATION_INSTALLED,
    APPLICATION_UNINSTALLED,
    CREATED,
    DELETED,
    UPDATED,
    AppChanges,
    Attempt,
    CategoryChanges,
    Delivery,
)


@pytest.fixture
def store(services: Services) -> MetadataStore:
    return services.metadata


def _app(store: MetadataStore, shop: int, name: str = "Sync", **changes: object) -> int:
    fields = {
        "scopes": frozenset({"read_catalog"}),
        "webhook_url": "https://app.example/hooks",
        **changes,
    }
    app, _ = store.apps.create_app(shop, name, f"client-{name}", "s" * 32, AppChanges(**fields))  # type: ignore[arg-type]  # the test's keywords
    return app.id


def _drain(store: MetadataStore) -> list[tuple[Delivery, int]]:
    """Claim every due delivery; (delivery, app id), and mark each delivered."""
    claimed = []
    while (found := claim_one(store.webhooks, "w", 60)) is not None:
        delivery, app = found
        claimed.append((delivery, app.id))
        _attempt(store, delivery, delivered=True)
    return claimed


def _attempt(
    store: MetadataStore, delivery: Delivery, delivered: bool, retry_at: datetime | None = None
) -> bool:
    return finish_one(store.webhooks, delivery, _tried(delivery, delivered, retry_at), delivered)


def _tried(delivery: Delivery, delivered: bool, retry_at: datetime | None = None) -> Attempt:
    """An attempt of the claim ``delivery`` holds: a 200, or a 500 due again
    at ``retry_at`` (None: given up)."""
    return Attempt(
        delivery_id=delivery.id,
        number=delivery.attempts,
        at=datetime.now(UTC),
        status=200 if delivered else 500,
        duration_ms=3.0,
        error="" if delivered else "HTTP 500",
        response="ok",
        request_headers={"Content-Type": "application/json; charset=UTF-8"},
        request_body="{}",
        next_at=retry_at,
    )


def test_an_app_hears_its_install_and_each_change_it_may_see(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    reader = _app(store, shop, "Reader")
    blind = _app(store, shop, "Blind", scopes=frozenset({"create_catalog"}))  # no read_catalog
    picky = _app(store, shop, "Picky", events=(DELETED,))
    _app(store, shop, "Quiet", webhook_url="")  # no URL: nothing to deliver
    installs = _drain(store)
    # an install needs no scope; an app that chose its event types hears those alone
    assert sorted((d.event.event_type, a) for d, a in installs) == [
        (APPLICATION_INSTALLED, reader),
        (APPLICATION_INSTALLED, blind),
    ]
    top, _ = store.catalog.create_category(shop, CategoryChanges(name="Top"))
    child, _ = store.catalog.create_category(shop, CategoryChanges(name="Child", parent_id=top))
    store.catalog.update_category(shop, child, CategoryChanges(name="Kid"))
    store.catalog.delete_category(shop, top)
    seen = [(d.event.event_type, d.event.entity_id, a) for d, a in _drain(store)]
    assert sorted(e for e in seen if e[2] == reader) == sorted(
        [
            (CREATED, top, reader),
            (CREATED, child, reader),
            (UPDATED, child, reader),
            (DELETED, top, reader),
            (DELETED, child, reader),
        ]
    )
    assert sorted(e for e in seen if e[2] == picky) == sorted(
        [(DELETED, top, picky), (DELETED, child, picky)]
    )
    assert {e[2] for e in seen} == {reader, picky}


def test_a_change_that_rolls_back_has_no_event(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    _app(store, shop)
    _drain(store)
    top, _ = store.catalog.create_category(shop, CategoryChanges(name="Top"))
    child, _ = store.catalog.create_category(shop, CategoryChanges(name="Child", parent_id=top))
    _drain(store)
    with pytest.raises(BadRequest):  # a move under its own child: refused in the transaction
        store.catalog.update_category(shop, top, CategoryChanges(parent_id=child))
    assert claim_one(store.webhooks, "w", 60) is None


def test_events_carry_what_ecwid_sends(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    _app(store, shop)
    _drain(store)
    before = int(time.time())
    category, _ = store.catalog.create_category(shop, CategoryChanges(name="Top"))
    [(delivery, _)] = _drain(store)
    event = delivery.event
    assert (event.store_id, event.entity_id, event.event_type) == (shop, category, CREATED)
    assert before <= event.created <= int(time.time())
    assert len(event.event_id) >= 32


def test_a_claim_is_leased_and_only_the_newest_records_the_outcome(
    store: MetadataStore,
) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    _app(store, shop)
    _drain(store)
    store.catalog.create_category(shop, CategoryChanges(name="Top"))
    first = claim_one(store.webhooks, "a", 1)
    assert first is not None
    assert claim_one(store.webhooks, "b", 1) is None  # leased
    time.sleep(1.2)
    again = claim_one(store.webhooks, "b", 60)  # a died: its lease ran out
    assert again is not None and again[0].id == first[0].id and again[0].attempts == 2
    assert _attempt(store, first[0], delivered=True) is False  # stale: recorded, not applied
    retry = datetime.now(UTC) + timedelta(hours=1)
    assert _attempt(store, again[0], delivered=False, retry_at=retry) is True
    assert claim_one(store.webhooks, "c", 60) is None  # not due yet
    [shown] = [d for d in store.webhooks.list_deliveries(shop) if d.id == first[0].id]
    assert shown.state == "pending" and shown.last_status == 500
    attempts = store.webhooks.attempts(shop, shown.id)
    assert [a.number for a in attempts] == [1, 2] and attempts[1].next_at is not None
    assert store.webhooks.attempts(shop + 1, shown.id) == []  # another store sees nothing


def test_apps_take_turns_and_one_app_cannot_take_every_worker(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    slow = _app(store, shop, "Slow")
    _drain(store)
    for n in range(10):
        store.catalog.create_category(shop, CategoryChanges(name=f"C{n}"))
    fast = _app(store, shop, "Fast")  # installed later: its install event is the newest
    claimed = [claim_one(store.webhooks, f"w{n}", 60) for n in range(6)]
    apps = [c[1].id for c in claimed if c is not None]
    assert apps[:2] == [slow, fast]  # the second claim goes to the other app at once
    assert apps.count(slow) <= 4  # at most four of one app's deliveries in flight
    assert len(apps) == 5  # slow's four, fast's one; the rest wait for slow's


def test_replay_and_test_events(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    app = _app(store, shop)
    _drain(store)
    category, _ = store.catalog.create_category(shop, CategoryChanges(name="Top"))
    [(sent, _)] = _drain(store)
    again = store.webhooks.replay(shop, sent.id)
    assert again is not None and again.id != sent.id
    assert again.event.event_id == sent.event.event_id  # the same event, a new delivery
    test = store.webhooks.send_test(shop, app, category)
    assert test is not None and test.event.event_type == UPDATED
    assert test.event.entity_id == category
    assert {d.id for d, _ in _drain(store)} == {again.id, test.id}
    assert store.webhooks.replay(shop + 1, sent.id) is None
    assert store.webhooks.send_test(shop, app + 100, category) is None


def test_an_uninstalled_app_hears_of_it_and_nothing_after(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    app = _app(store, shop)
    _drain(store)
    store.catalog.create_category(shop, CategoryChanges(name="Waiting"))  # left undelivered
    done = store.apps.delete_app(shop, app)
    assert done is not None and done.changes[0].event == APPLICATION_UNINSTALLED
    assert store.apps.get_app(shop, app) is None and store.apps.list_apps(shop) == []
    left = _drain(store)
    assert [d.event.event_type for d, _ in left] == [APPLICATION_UNINSTALLED]
    store.catalog.create_category(shop, CategoryChanges(name="After"))
    assert claim_one(store.webhooks, "w", 60) is None
    assert store.apps.delete_app(shop, app) is None
    later = datetime.now(UTC) + timedelta(days=1)
    assert store.webhooks.prune_webhooks(later) >= 2
    assert store.webhooks.list_deliveries(shop) == []


def _states(store: MetadataStore, shop: int) -> dict[int, tuple[str, int]]:
    return {d.id: (d.state, d.attempts) for d in store.webhooks.list_deliveries(shop)}


def test_a_claim_takes_an_apps_oldest_due_deliveries_together(store: MetadataStore) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    app = _app(store, shop)
    for n in range(5):
        store.catalog.create_category(shop, CategoryChanges(name=f"C{n}"))
    claimed = store.webhooks.claim_deliveries("w", 60, 4)
    assert claimed is not None
    got, batch = claimed
    assert got.id == app and len(batch) == 4
    assert batch[0].event.event_type == APPLICATION_INSTALLED  # the oldest first
    assert [d.id for d in batch] == sorted(d.id for d in batch)
    assert {(d.state, d.attempts) for d in batch} == {("sending", 1)}
    rest = store.webhooks.claim_deliveries("v", 60, 4)
    assert rest is not None and len(rest[1]) == 2  # the other two, to another worker
    assert not {d.id for d in batch} & {d.id for d in rest[1]}
    assert store.webhooks.claim_deliveries("u", 60, 4) is None


def test_a_batch_records_mixed_outcomes_and_gives_back_what_it_did_not_send(
    store: MetadataStore,
) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    _app(store, shop)
    for n in range(4):
        store.catalog.create_category(shop, CategoryChanges(name=f"C{n}"))
    claimed = store.webhooks.claim_deliveries("w", 60, 5)
    assert claimed is not None
    took, retried, lost, unsent, later = claimed[1]
    retry = datetime.now(UTC) + timedelta(hours=1)
    made = [
        (took, _tried(took, delivered=True), True),
        (retried, _tried(retried, delivered=False, retry_at=retry), False),
        (lost, _tried(lost, delivered=False), False),  # out of attempts: given up
    ]
    assert store.webhooks.finish_attempts(made, [unsent, later]) == [True, True, True]
    states = _states(store, shop)
    assert states[took.id] == ("delivered", 1)
    assert states[retried.id] == ("pending", 1)
    assert states[lost.id] == ("failed", 1)
    # never sent: due at once, the attempt not counted, nothing in the log
    assert states[unsent.id] == states[later.id] == ("pending", 0)
    assert store.webhooks.attempts(shop, unsent.id) == []
    [logged] = store.webhooks.attempts(shop, retried.id)
    assert logged.status == 500 and logged.next_at is not None
    again = store.webhooks.claim_deliveries("v", 60, 5)
    assert again is not None  # the two given back, not the one due in an hour
    assert [(d.id, d.attempts) for d in again[1]] == [(unsent.id, 1), (later.id, 1)]


def test_a_lease_lost_mid_batch_leaves_the_taken_deliveries_to_the_newer_claim(
    store: MetadataStore,
) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    _app(store, shop)
    for n in range(2):
        store.catalog.create_category(shop, CategoryChanges(name=f"C{n}"))
    claimed = store.webhooks.claim_deliveries("a", 1, 3)
    assert claimed is not None
    first, second, third = claimed[1]
    time.sleep(1.2)  # a stalls past its lease; b takes the first of its deliveries over
    taken = store.webhooks.claim_deliveries("b", 60, 1)
    assert taken is not None and [(d.id, d.attempts) for d in taken[1]] == [(first.id, 2)]
    made = [
        (first, _tried(first, delivered=True), True),
        (second, _tried(second, delivered=True), True),
    ]
    # a's outcome for the first is recorded, not applied; the second was
    # not taken over, so a's claim on it holds; the third a never sent
    assert store.webhooks.finish_attempts(made, [third]) == [False, True]
    states = _states(store, shop)
    assert states[first.id] == ("sending", 2)  # b's
    assert states[second.id] == ("delivered", 1)
    assert states[third.id] == ("pending", 0)
    # b's own outcome applies, and gives back nothing of a's
    assert _attempt(store, taken[1][0], delivered=True) is True
    assert store.webhooks.finish_attempts([], [first]) == []  # a, too late: not given back
    assert _states(store, shop)[first.id] == ("delivered", 2)
    assert [a.number for a in store.webhooks.attempts(shop, first.id)] == [1, 2]


def test_apps_take_turns_between_batches_and_one_has_at_most_four_claims(
    store: MetadataStore,
) -> None:
    shop = store.stores.create_store("Shop", "https://shop.test").id
    busy = _app(store, shop, "Busy")
    for n in range(20):
        store.catalog.create_category(shop, CategoryChanges(name=f"C{n}"))
    quiet = _app(store, shop, "Quiet")  # its install event is the newest
    claims = [store.webhooks.claim_deliveries(f"w{n}", 60, 2) for n in range(8)]
    apps = [c[0].id for c in claims if c is not None]
    assert apps[:2] == [busy, quiet]  # the second batch goes to the other app at once
    assert apps.count(busy) == 4  # four batches of two; the other eleven wait
    assert apps.count(quiet) == 1  # it had one event
    ids = [d.id for c in claims if c is not None for d in c[1]]
    assert len(ids) == len(set(ids)) == 4 * 2 + 1
