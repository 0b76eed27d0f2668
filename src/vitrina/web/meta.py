"""Health, readiness, the OpenAPI document and the API page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from vitrina.errors import Unavailable
from vitrina.web.context import Context
from vitrina.web.docs_page import render_docs
from vitrina.web.openapi import openapi_document
from vitrina.web.responses import JSON, error_response


async def healthz(_request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx = Context.of(request)
    try:
        await run_in_threadpool(ctx.services.metadata.ping)
        await run_in_threadpool(ctx.services.blobs.ping)
    except Unavailable as exc:
        return error_response(exc)
    return JSON({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSON(openapi_document(Context.of(request).settings.effective_public_url))


async def docs(request: Request) -> Response:
    document = openapi_document(Context.of(request).settings.effective_public_url)
    return HTMLResponse(render_docs(document))
