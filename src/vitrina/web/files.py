"""Serving image files (docs/differences.md, Files): public, immutable, cacheable forever."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from vitrina import wire
from vitrina.domain.errors import BadRequest, NotFound
from vitrina.domain.naming import content_type, file_key
from vitrina.domain.values import Serving, StoredFile
from vitrina.web.context import Context
from vitrina.web.operation import Call

_CACHE = "public, max-age=31536000, immutable"
_CHUNK = 256 * 1024  # also the largest file read whole, in the lookup's thread trip
CACHED_LARGEST = _CHUNK  # the largest file kept in memory when files live in a bucket

# the whole file, an open one, a started stream, nothing, or where to redirect
Body = bytes | io.BufferedReader | tuple[bytes, Iterator[bytes]] | Serving | None


def _matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _open(
    ctx: Context, store_id: int, file_id: int, ext: str, if_none_match: str, head: bool
) -> tuple[StoredFile | None, Body]:
    """The file's record and, when the answer needs them, its bytes, opened
    before answering, as the blob store says it can be served: a small file
    read whole, a larger one as an open file or a started stream; or where to
    redirect. A replace that deletes the file after this point cannot cut the
    answer short (an open file outlives its name); one that deleted it before
    makes this a 404. One trip to a worker thread."""
    found = ctx.services.metadata.images.find_file(store_id, file_id)
    if found is None or found.ext != ext:
        return None, None
    if _matches(if_none_match, f'"{found.etag}"'):
        return found, None
    key = file_key(store_id, found.id, found.ext)
    serving = ctx.services.blobs.serving(key)
    if serving.url:
        return found, serving
    if head:
        return found, None
    try:
        if serving.path is None:
            return found, _from_bucket(ctx, key, found.size)
        stream = serving.path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotFound):
        return None, None
    if found.size > _CHUNK:
        return found, stream
    with stream:
        return found, stream.read()


def _from_bucket(ctx: Context, key: str, size: int) -> bytes | tuple[bytes, Iterator[bytes]]:
    """A file in the bucket: from the hot-file cache, or read (and kept
    there when it is small), or, when large, a started stream."""
    kept = ctx.files.get(key)
    if kept is not None:
        return kept
    chunks = ctx.services.blobs.read(key)
    first = next(chunks, b"")
    if size > CACHED_LARGEST:
        return first, chunks
    whole = b"".join([first, *chunks])
    ctx.files.put(key, whole)
    return whole


async def _from_file(stream: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_in_threadpool(stream.read, _CHUNK):
            yield chunk
    finally:
        stream.close()


async def _from_stream(first: bytes, rest: Iterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in iterate_in_threadpool(rest):
        yield chunk


@dataclass(frozen=True)
class FileName:
    """``<fileId>.<ext>``: the file id and the extension."""

    def read(self, text: str, name: str) -> tuple[int, str]:
        if re.fullmatch(wire.FILE_NAME, text) is None:
            raise BadRequest(f"Parameter '{name}' must be <fileId>.<ext>, like 1001.jpg")
        file_id, _, ext = text.partition(".")
        return int(file_id), ext

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": wire.FILE_NAME}


async def serve_file(call: Call) -> Response:
    request, ctx, store_id = call.request, call.ctx, call.store_id
    file_id, ext = call.args["fileName"]
    name = f"{file_id}.{ext}"
    if_none_match = request.headers.get("if-none-match", "")
    head = request.method == "HEAD"
    found, body = await run_in_threadpool(_open, ctx, store_id, file_id, ext, if_none_match, head)
    if found is None:
        raise NotFound(f"No image file /images/{store_id}/{name}")
    # Range is ignored, as RFC 9110 allows: files are small and immutable.
    headers = {
        "ETag": f'"{found.etag}"',
        "Cache-Control": _CACHE,
        "Accept-Ranges": "none",
        # the type was decided by reading the bytes; a browser must not guess another
        "X-Content-Type-Options": "nosniff",
    }
    if body is None and _matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if isinstance(body, Serving):  # S3: the object store serves it (docs/deployment.md)
        headers["Cache-Control"] = f"public, max-age={body.seconds // 2}"
        return Response(status_code=307, headers={**headers, "Location": body.url})
    if body is None:  # HEAD
        headers["Content-Length"] = str(found.size)
        return Response(headers=headers, media_type=content_type(found.ext))
    if isinstance(body, bytes):
        return Response(body, media_type=content_type(found.ext), headers=headers)
    headers["Content-Length"] = str(found.size)
    chunks = _from_file(body) if isinstance(body, io.BufferedReader) else _from_stream(*body)
    return StreamingResponse(chunks, media_type=content_type(found.ext), headers=headers)
