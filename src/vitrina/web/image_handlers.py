"""Category image operations (declared in web/api.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

from msgspec import UNSET
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vitrina import metrics, wire
from vitrina.domain.errors import BadRequest, VitrinaError
from vitrina.usecases import category_images as images
from vitrina.web.operation import Call
from vitrina.web.params import media_type, spool_body
from vitrina.web.responses import JSON
from vitrina.wire import reading as wire_input

log = logging.getLogger("vitrina.images")
_FORM_LIMIT = 64 * 1024


def _form_url(path: Path) -> str | None:
    if path.stat().st_size > _FORM_LIMIT:
        return None
    try:
        form = parse_qs(path.read_bytes().decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    values = form.get("externalUrl")
    return values[0] if values else None


async def upload_image(call: Call) -> Response:
    ctx, store_id, category_id = call.ctx, call.store_id, call.args["categoryId"]
    # before the body is read: from the cached tree, no query (the commit checks again)
    _version, tree = await ctx.catalog.current(store_id)
    images.check_category(ctx.services, store_id, category_id, tree)
    limit = ctx.settings.max_image_bytes
    url: str | None = call.args["externalUrl"]
    source: Path | None = None
    try:
        if url is None:
            with metrics.stage("spool"):
                source = await spool_body(call.request, limit)
            metrics.upload_bytes.labels("in").inc(source.stat().st_size)
            if media_type(call.request) == "application/x-www-form-urlencoded":
                url = await run_in_threadpool(_form_url, source)
            if url is None and source.stat().st_size == 0:
                raise BadRequest(
                    "The request has no image: send it as the body, or send externalUrl"
                )
        if url is not None:
            if wire.blank(url):
                raise BadRequest("Parameter 'externalUrl' is empty")
            if source is not None:
                source.unlink(missing_ok=True)
            source = await run_in_threadpool(images.download, ctx.services, url)
        assert source is not None
        image_id, done = await run_in_threadpool(
            images.upload, ctx.services, call.who.store, category_id, source
        )
    except VitrinaError as exc:
        if url is not None:
            log.warning("externalUrl upload refused for store %d: %s", store_id, exc.message)
        raise
    finally:
        if source is not None:
            source.unlink(missing_ok=True)
    await call.settle(done)
    return JSON(wire.Id(id=image_id))


async def upload_image_async(call: Call) -> Response:
    ctx, body = call.ctx, call.args["body"]
    external_id = body.externalId if body.externalId is not UNSET else None
    alt = wire_input.alt_changes(body.alt) if body.alt not in (None, UNSET) else None
    image_id, done = await run_in_threadpool(
        images.start_async,
        ctx.services,
        call.who.store,
        call.args["categoryId"],
        body.url.strip(wire.SPACES),
        body.width,
        body.height,
        None if external_id is None else str(external_id),
        alt,
    )
    if ctx.worker is not None:
        ctx.worker.wake()
    await call.settle(done)
    return JSON(wire.Id(id=image_id))


async def delete_image(call: Call) -> Response:
    ctx = call.ctx
    count, done = await run_in_threadpool(
        images.delete, ctx.services, call.store_id, call.args["categoryId"]
    )
    await call.settle(done)
    return JSON(wire.DeleteCount(deleteCount=count))
