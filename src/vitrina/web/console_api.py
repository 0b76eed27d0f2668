"""vitrina's own endpoints, beside Ecwid's (docs/differences.md): the request
log, what the calling token may do, and the state of an async upload. The
console uses them like any client; each is under /api/v3/{storeId}/_…"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vitrina import wire
from vitrina.domain.errors import NotFound
from vitrina.domain.values import REQUESTS_KEPT, RequestRecord
from vitrina.web.operation import Call
from vitrina.web.responses import JSON


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


async def request_log(call: Call) -> Response:
    ctx, args = call.ctx, call.args
    status = args["status"]
    if ctx.recorder is not None:
        await run_in_threadpool(ctx.recorder.flush)
    records = await run_in_threadpool(
        ctx.services.metadata.requests.recent,
        call.store_id,
        min(args["limit"], REQUESTS_KEPT),
        args["after"],
        int(status[0]) if status else None,
        args["path"][:200],
    )
    return JSON(wire.RequestLog(count=len(records), items=[_logged(r) for r in records]))


async def token_scopes(call: Call) -> Response:
    caller = call.who
    return JSON(
        wire.TokenScopes(
            storeId=call.store_id, scopes=sorted(caller.token.scopes), public=caller.public
        )
    )


async def image_job(call: Call) -> Response:
    image_id = call.args["imageId"]
    found = await run_in_threadpool(
        call.ctx.services.metadata.jobs.list_jobs, None, 1, call.store_id, image_id
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
