"""What an operator measures, in Prometheus's terms (prometheus-client).

Every process records into these; `/metrics` serves them when
``VITRINA_METRICS_TOKEN`` is set (docs/operations.md). With several server
processes, ``vitrina serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder
of its own before any process imports this module, so that one scrape of any
process reports the sum of all of them.

Names are declared once, here; docs/grafana-dashboard.json uses them and a
test checks that every name it uses exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "render", "stage"]

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

requests = Counter(
    "vitrina_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
request_seconds = Histogram(
    "vitrina_http_request_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=_FAST,
)
upload_stage_seconds = Histogram(
    "vitrina_upload_stage_seconds",
    "Time of each stage of an upload: spool, digest, probe, decode_fit, store, commit",
    ["stage"],
    buckets=_SLOW,
)
upload_bytes = Counter(
    "vitrina_upload_bytes",
    "Bytes received by uploads (in) and written as files (out)",
    ["direction"],
)
uploads_shared = Counter(
    "vitrina_uploads_shared",
    "Uploads whose bytes the store already had: files of their own over the bytes stored "
    "for them, not processed or stored again",
)
decode_waiting = Gauge(
    "vitrina_decode_waiting",
    "Uploads waiting in line for a decode slot",
    multiprocess_mode="livesum",
)
decode_wait_seconds = Histogram(
    "vitrina_decode_wait_seconds",
    "Time an upload waited for a decode slot",
    buckets=_SLOW,
)
decode_refused = Counter(
    "vitrina_decode_refused",
    "Uploads answered 503 because the decode line was full",
)
rate_limited = Counter("vitrina_rate_limited", "Requests refused by the per-token rate limit")
job_failures = Counter(
    "vitrina_job_failures",
    "Async upload attempts that failed, by the error code of the reason",
    ["reason"],
)
blob_errors = Counter(
    "vitrina_blob_errors",
    "File storage operations that failed, by operation",
    ["operation"],
)
webhook_deliveries = Counter(
    "vitrina_webhook_deliveries",
    "Webhook deliveries by the outcome of an attempt: delivered, retrying (another attempt "
    "is due later), failed (out of attempts, or the app has no webhook URL)",
    ["outcome"],
)
webhook_attempts = Counter(
    "vitrina_webhook_attempts",
    "Webhook attempts made, by result: success, status (an answer that is not a success, "
    "redirects too), timeout, connection, refused (the URL or its address is not allowed)",
    ["result"],
)
webhook_receiver_seconds = Histogram(
    "vitrina_webhook_receiver_seconds",
    "Time from sending a webhook to its receiver's complete answer (attempts that got one)",
    buckets=_FAST,
)
db_connections = Gauge(
    "vitrina_db_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time an upload stage."""
    started = time.perf_counter()
    try:
        yield
    finally:
        upload_stage_seconds.labels(name).observe(time.perf_counter() - started)


class JobCollector(Collector):
    """The async job queue as the database has it, read at scrape time."""

    def __init__(self, read: Callable[[], tuple[dict[str, int], float]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, oldest = self.read()
        by_state = GaugeMetricFamily("vitrina_jobs", "Async upload jobs by state", labels=["state"])
        for state in ("queued", "running", "done", "failed", "cancelled"):
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        yield GaugeMetricFamily(
            "vitrina_jobs_oldest_queued_seconds",
            "Age of the oldest queued async upload job (0 when none)",
            value=oldest,
        )


class WebhookCollector(Collector):
    """The webhook deliveries as the database has them, read at scrape time."""

    def __init__(self, read: Callable[[], tuple[dict[str, int], float]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts, waited = self.read()
        by_state = GaugeMetricFamily(
            "vitrina_webhook_queue", "Webhook deliveries by state", labels=["state"]
        )
        for state in ("pending", "sending", "delivered", "failed"):
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        yield GaugeMetricFamily(
            "vitrina_webhook_oldest_due_seconds",
            "How long the longest-waiting due webhook delivery has waited to be sent "
            "(0 when none is due; a delivery waiting for its retry time is not due)",
            value=waited,
        )


def render(*extra: Collector) -> bytes:
    """The exposition text: this process's metrics, or every process's in
    multiprocess mode; then each of ``extra`` (read at this moment)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        parts = [generate_latest(registry)]
    else:
        from prometheus_client import REGISTRY

        parts = [generate_latest(REGISTRY)]
    if extra:
        own = CollectorRegistry()
        for collector in extra:
            own.register(collector)
        parts.append(generate_latest(own))
    return b"".join(parts)
