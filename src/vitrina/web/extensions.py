"""vitrina's own endpoints, beside Ecwid's (docs/differences.md): the request
log, what the calling token may do, and the state of an async upload. The
console uses them like any client; each is under /api/v3/{storeId}/_…"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitrina import wire
from vitrina.errors import BadRequest, NotFound, SecretTokenRequired
from vitrina.interfaces import REQUESTS_KEPT, RequestRecord
from vitrina.web.context import Context
from vitrina.web.params import MAX_FILE_ID, path_id, query_int
from vitrina.web.responses import JSON

_STATUS_CLASSES = {"2xx": 2, "3xx": 3, "4xx": 4, "5xx": 5}


def _logged(record: RequestRecord) -> wire.LoggedRequest:
    return wire.LoggedRequest(
        id=record.id,
        time=record.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        method=record.method,
        path=record.path,
        query=record.query,
        status=record.status,
        durationMs=record.duration_ms,
        errorCode=record.error_code or wire.UNSET,
    )


async def request_log(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    caller = await ctx.auth.require(request, store_id, "read_catalog")
    if caller.public:
        raise SecretTokenRequired()
    status = request.query_params.get("status", "")
    if status and status not in _STATUS_CLASSES:
        raise BadRequest(f"Parameter 'status' must be one of 2xx, 3xx, 4xx, 5xx; got {status!r}")
    limit = min(query_int(request, "limit", 100, low=1), REQUESTS_KEPT)
    after = query_int(request, "after", 0)
    path = request.query_params.get("path", "")[:200]
    if ctx.recorder is not None:
        await run_in_threadpool(ctx.recorder.flush)
    records = await run_in_threadpool(
        ctx.services.metadata.requests.recent,
        store_id,
        limit,
        after,
        _STATUS_CLASSES.get(status),
        path,
    )
    return JSON(wire.RequestLog(count=len(records), items=[_logged(r) for r in records]))


async def token_scopes(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    caller = await ctx.auth.require(request, store_id, None)
    return JSON(
        wire.TokenScopes(storeId=store_id, scopes=sorted(caller.token.scopes), public=caller.public)
    )


async def image_job(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    image_id = path_id(request, "imageId", high=MAX_FILE_ID)
    caller = await ctx.auth.require(request, store_id, "read_catalog")
    if caller.public:  # a job names its source URL, and its category may be hidden
        raise SecretTokenRequired()
    found = await run_in_threadpool(
        ctx.services.metadata.jobs.list_jobs, None, 1, store_id, image_id
    )
    if not found:
        raise NotFound(f"No async upload with image id {image_id} in this store")
    job = found[0]
    return JSON(
        wire.ImageJob(
            imageId=job.image_id,
            categoryId=job.category_id,
            url=job.url,
            state=job.state,
            attempts=job.attempts,
            error=job.last_error if job.state == "failed" else wire.UNSET,
        )
    )
