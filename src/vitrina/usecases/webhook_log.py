"""The delivery log and what a developer does with it: a store's (or an
app's) deliveries newest first, one delivery with every attempt, "send
again" (a new delivery of the same event, so the same ``eventId``), and a
signed test ``category.updated`` for a category the developer picks. Both
actions only queue a delivery; the webhook worker sends it, as any other.
Shared by the API's extensions and the command line."""

from __future__ import annotations

from vitrina.bootstrap import Services
from vitrina.domain.errors import CategoryNotFound, ConstraintViolation, NotFound
from vitrina.domain.values import App, Attempt, Delivery

MAX_PAGE = 200  # deliveries one call lists, at most


def app(services: Services, store_id: int, app_id: int) -> App:
    found = services.metadata.apps.get_app(store_id, app_id)
    if found is None:
        raise NotFound(f"No app #{app_id} in store #{store_id}")
    return found


def deliveries(
    services: Services, store_id: int, app_id: int | None = None, limit: int = 50, before: int = 0
) -> list[Delivery]:
    """Newest first; ``before``: only deliveries with a smaller id (the next page)."""
    limit = max(1, min(limit, MAX_PAGE))
    return services.metadata.webhooks.list_deliveries(store_id, app_id, limit, before)


def delivery(services: Services, store_id: int, delivery_id: int) -> tuple[Delivery, list[Attempt]]:
    """One delivery and every attempt at it, oldest first."""
    found = services.metadata.webhooks.get_delivery(store_id, delivery_id)
    if found is None:
        raise NotFound(f"No webhook delivery #{delivery_id} in store #{store_id}")
    return found, services.metadata.webhooks.attempts(store_id, delivery_id)


def _unsendable(services: Services, store_id: int, app_id: int) -> ConstraintViolation:
    """Why nothing can be sent to the app: it was deleted, or has no webhook URL."""
    if services.metadata.apps.get_app(store_id, app_id) is None:
        return ConstraintViolation(f"App #{app_id} was deleted: nothing can be sent to it")
    return ConstraintViolation(f"App #{app_id} has no webhook URL: set one to send events")


def replay(services: Services, store_id: int, delivery_id: int) -> Delivery:
    """Send a delivery's event again: a new delivery, due now, of the same
    event (same ``eventId`` and ``eventCreated``, so the same signature)."""
    old, _ = delivery(services, store_id, delivery_id)
    new = services.metadata.webhooks.replay(store_id, delivery_id)
    if new is None:
        raise _unsendable(services, store_id, old.app_id)
    return new


def send_test(services: Services, store_id: int, app_id: int, category_id: int) -> Delivery:
    """Queue a signed ``category.updated`` of ``category_id`` for the app
    alone, whichever event types it asked for."""
    app(services, store_id, app_id)
    if services.metadata.catalog.get_category(store_id, category_id) is None:
        raise CategoryNotFound(category_id)
    sent = services.metadata.webhooks.send_test(store_id, app_id, category_id)
    if sent is None:
        raise _unsendable(services, store_id, app_id)
    return sent
