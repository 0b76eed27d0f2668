"""Health, readiness, the OpenAPI document and the API page."""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from vitrina.domain.errors import InvalidToken, NotFound, Unavailable
from vitrina.metrics import CONTENT_TYPE_LATEST, JobCollector, WebhookCollector
from vitrina.metrics import render as render_metrics
from vitrina.web.auth import bearer_token
from vitrina.web.context import Context
from vitrina.web.docs_page import render_docs
from vitrina.web.openapi import openapi_document
from vitrina.web.responses import JSON, error_response


async def healthz(_request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: not shutting down, the database and the file storage answer,
    and (with VITRINA_READY_MAX_JOB_AGE_SECONDS) no queued job is too old,
    (with VITRINA_READY_MAX_WEBHOOK_AGE_SECONDS) no due webhook too late."""
    ctx = Context.of(request)
    if ctx.draining.is_set():
        return error_response(Unavailable("Shutting down: finishing the requests in flight"))
    try:
        await run_in_threadpool(ctx.services.metadata.ping)
        await run_in_threadpool(ctx.services.blobs.ping)
        limit = ctx.settings.ready_max_job_age_seconds
        if limit:
            _, oldest = await run_in_threadpool(ctx.services.metadata.jobs.job_counts)
            if oldest > limit:
                raise Unavailable(
                    f"The oldest queued async upload has waited {oldest:.0f} s "
                    f"(VITRINA_READY_MAX_JOB_AGE_SECONDS is {limit})"
                )
        limit = ctx.settings.ready_max_webhook_age_seconds
        if limit:
            _, waited = await run_in_threadpool(ctx.services.metadata.webhooks.webhook_counts)
            if waited > limit:
                raise Unavailable(
                    f"A due webhook delivery has waited {waited:.0f} s to be sent "
                    f"(VITRINA_READY_MAX_WEBHOOK_AGE_SECONDS is {limit})"
                )
    except Unavailable as exc:
        return error_response(exc)
    return JSON({"status": "ready"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics, for requests bearing VITRINA_METRICS_TOKEN; a 404
    when no token is set (docs/operations.md)."""
    ctx = Context.of(request)
    expected = ctx.settings.metrics_token
    if not expected:
        raise NotFound("No such resource: GET /metrics (set VITRINA_METRICS_TOKEN to turn it on)")
    given = bearer_token(request, allow_query=False) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidToken()
    jobs = JobCollector(ctx.services.metadata.jobs.job_counts)
    webhooks = WebhookCollector(ctx.services.metadata.webhooks.webhook_counts)
    body = await run_in_threadpool(render_metrics, jobs, webhooks)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSON(openapi_document(Context.of(request).settings.effective_public_url))


async def docs(request: Request) -> Response:
    document = openapi_document(Context.of(request).settings.effective_public_url)
    return HTMLResponse(render_docs(document))
