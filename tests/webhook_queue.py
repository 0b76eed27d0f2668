"""One delivery at a time through the webhook queue's batched claim and
record (``claim_deliveries``, ``finish_attempts``), as the tests that play
the worker's part by hand need it."""

from __future__ import annotations

from vitrina.domain.seams import WebhookQueue
from vitrina.domain.values import App, Attempt, Delivery


def claim_one(
    queue: WebhookQueue, worker: str, lease_seconds: int = 60
) -> tuple[Delivery, App] | None:
    """The next due delivery, leased to ``worker``; and its app."""
    claimed = queue.claim_deliveries(worker, lease_seconds, 1)
    if claimed is None:
        return None
    app, [delivery] = claimed
    return delivery, app


def finish_one(queue: WebhookQueue, delivery: Delivery, attempt: Attempt, delivered: bool) -> bool:
    """Record one attempt (due again at its ``next_at`` unless delivered);
    whether its claim still held."""
    [held] = queue.finish_attempts([(delivery, attempt, delivered)])
    return held
