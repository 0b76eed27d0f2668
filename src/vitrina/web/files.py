"""Serving image files (SPEC.md §4.4): public, immutable, cacheable forever."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from vitrina.errors import NotFound, WrongNumber
from vitrina.interfaces import StoredFile
from vitrina.metadata.sql import file_key
from vitrina.web.context import Context
from vitrina.web.params import MAX_FILE_ID, path_id

_CACHE = "public, max-age=31536000, immutable"


def _locate(ctx: Context, store_id: int, file_id: int) -> tuple[StoredFile | None, Path | None]:
    """The file's record and, on local disk, its path: one trip to a worker thread."""
    found = ctx.services.metadata.find_file(store_id, file_id)
    if found is None:
        return None, None
    return found, ctx.services.blobs.local_path(file_key(store_id, found.id, found.ext))


def _matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


async def serve_file(request: Request) -> Response:
    ctx = Context.of(request)
    store_id = path_id(request, "storeId")
    stem, _, ext = request.path_params["fileName"].partition(".")
    if not stem.isascii() or not stem.isdigit() or not 0 < len(stem) <= 16:
        raise WrongNumber("fileId")
    file_id = int(stem)
    if file_id > MAX_FILE_ID:
        raise WrongNumber("fileId")
    found, path = await run_in_threadpool(_locate, ctx, store_id, file_id)
    if found is None or found.ext != ext:
        raise NotFound(f"No image file /images/{store_id}/{request.path_params['fileName']}")
    etag = f'"{found.etag}"'
    headers = {"ETag": etag, "Cache-Control": _CACHE}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    if path is not None:
        return FileResponse(path, media_type=found.content_type, headers=headers)
    headers["Content-Length"] = str(found.size)
    if request.method == "HEAD":
        return Response(headers=headers, media_type=found.content_type)
    chunks = iterate_in_threadpool(ctx.services.blobs.read(file_key(store_id, found.id, found.ext)))
    return StreamingResponse(chunks, media_type=found.content_type, headers=headers)
