"""App use cases: a client id and a secret shown once, scopes and event
types checked, and a webhook URL that must pass the webhook guard when the
app is saved (a clear 400 otherwise). Address checks here name addresses
(no lookups): tests/live.py's no_lookups refuses any name."""

from __future__ import annotations

import pytest

from tests.live import no_lookups
from vitrina.backends.fetching.guarded import GuardedFetcher
from vitrina.bootstrap import Services, webhook_policy
from vitrina.domain.errors import BadRequest, NotFound
from vitrina.domain.values import APPLICATION_UNINSTALLED
from vitrina.usecases import apps


@pytest.fixture
def store(services: Services) -> int:
    return services.metadata.stores.create_store("Shop", "https://shop.example.com").id


def _guard(services: Services, **settings: object) -> None:
    services.settings = services.settings.replace(**settings)
    services.webhook_guard = GuardedFetcher(webhook_policy(services.settings, resolver=no_lookups))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/hooks", "Only https://"),
        ("https://127.0.0.1:8443/hooks", "public internet address"),
        ("https://169.254.169.254/latest", "public internet address"),
        ("https://[::1]/hooks", "public internet address"),
        ("https://user:pw@203.0.113.9/hooks", "user name or password"),
        ("ftp://example.com/", "Only https://"),
        ("https://", "no host"),
    ],
)
def test_a_webhook_url_the_guard_refuses_is_a_400(
    services: Services, store: int, url: str, why: str
) -> None:
    _guard(services)
    with pytest.raises(BadRequest, match="webhook URL is refused") as refused:
        apps.create(services, store, "Sync", webhook_url=url)
    assert why in refused.value.message
    assert services.metadata.apps.list_apps(store) == []


def test_loopback_http_is_allowed_by_name(services: Services, store: int) -> None:
    _guard(services, webhook_allow_http=True, webhook_allow_networks=("127.0.0.0/8",))
    app, _ = apps.create(
        services,
        store,
        "Local app",
        webhook_url="http://127.0.0.1:8000/hooks",
        events=["category.updated"],
    )
    assert app.webhook_url == "http://127.0.0.1:8000/hooks"
    assert app.events == ("category.updated",) and app.scopes == frozenset({"read_catalog"})
    assert len(app.client_secret) >= 32 and app.client_id.startswith(f"app-{store}-")
    assert "client_secret" not in repr(app) or app.client_secret not in repr(app)
    with pytest.raises(BadRequest, match="public internet address"):
        apps.change(services, store, app.id, webhook_url="http://10.0.0.5/hooks")
    changed = apps.change(services, store, app.id, name="Renamed", webhook_url="")
    assert (changed.name, changed.webhook_url) == ("Renamed", "")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "needs a name"),
        ({"name": "x" * 256}, "at most 255"),
        ({"scopes": ["read_catalog", "delete_everything"]}, "Unknown scope"),
        ({"events": ["order.created"]}, "Unknown event type"),
        ({"redirect_uri": "javascript:alert(1)"}, "absolute http"),
        ({"iframe_url": "/relative"}, "absolute http"),
    ],
)
def test_bad_fields_are_refused(
    services: Services, store: int, fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"name": "Sync", **fields}
    with pytest.raises(BadRequest, match=message):
        apps.create(services, store, **values)  # type: ignore[arg-type]  # the cases' fields


def test_delete_and_missing(services: Services, store: int) -> None:
    app, _ = apps.create(services, store, "Sync", scopes=["read_catalog", "update_catalog"])
    done = apps.delete(services, store, app.id)
    assert [c.event for c in done.changes] == [APPLICATION_UNINSTALLED]
    with pytest.raises(NotFound):
        apps.delete(services, store, app.id)
    with pytest.raises(NotFound):
        apps.create(services, store + 99, "Nowhere")
