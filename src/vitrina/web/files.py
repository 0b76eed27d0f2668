"""Serving image files (docs/differences.md, Files): public, immutable, cacheable forever.

A file's variants may be answered in AVIF or WebP to browsers whose Accept
names them, and any file fitted to a width (``?width=``): renditions
(vitrina.domain.renditions, usecases/renditions.py). The choice is made
before any cache: the ETag names the format and width, and ``Vary: Accept``
is on every answer that depends on it (docs/images.md)."""

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
from vitrina.domain.naming import EXTENSIONS, content_type, file_key
from vitrina.domain.renditions import DEFAULT_WIDTHS, choose, rendition_etag
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


@dataclass(frozen=True)
class Answer:
    """What a request for a file is answered with: the stored file or a
    rendition of it (its key, size, type and ETag), and whether the answer
    depends on Accept."""

    key: str
    size: int
    content_type: str
    etag: str
    vary: bool


def _wanted(
    ctx: Context, found: StoredFile, accept: str, width: int | None
) -> tuple[str | None, bool]:
    """The format to answer in (None: the stored one) and whether the answer
    is negotiated. An original is served as stored (it is what was
    uploaded), but for a width."""
    formats = ctx.services.delivery.formats
    if not formats or (found.role == "original" and width is None):
        return None, False
    fmt = choose(accept, formats)
    if fmt is not None and EXTENSIONS[fmt] == found.ext:
        fmt = None
    return fmt, True


def _open(
    ctx: Context,
    store_id: int,
    file_id: int,
    ext: str,
    if_none_match: str,
    head: bool,
    accept: str = "",
    width: int | None = None,
) -> tuple[Answer | None, Body]:
    """The answer and, when it needs them, its bytes, opened before
    answering, as the blob store says it can be served: a small file read
    whole, a larger one as an open file or a started stream; or where to
    redirect. A rendition not stored yet is made here. A replace that
    deletes the file after this point cannot cut the answer short (an open
    file outlives its name); one that deleted it before makes this a 404.
    One trip to a worker thread."""
    found = ctx.services.metadata.images.find_file(store_id, file_id)
    if found is None or found.ext != ext:
        return None, None
    fmt, vary = _wanted(ctx, found, accept, width)
    if fmt is None and width is None:
        key = file_key(store_id, found.blob, found.ext)  # its bytes: maybe another's
        answer = Answer(key, found.size, content_type(found.ext), found.etag, vary)
        if _matches(if_none_match, f'"{answer.etag}"'):
            return answer, None
        return answer, _body(ctx, answer, head)
    tag = rendition_etag(found.etag, EXTENSIONS[fmt] if fmt else found.ext, width)
    if _matches(if_none_match, f'"{tag}"'):
        return Answer("", 0, "", tag, vary), None
    for _ in range(2):  # a rendition known here but gone from the store is made again
        made, data = ctx.renditions.get(ctx.services, store_id, found, fmt, width)
        answer = Answer(made.key, made.size, made.content_type, tag, vary)
        if data is not None and not ctx.services.blobs.serving(made.key).url:
            return answer, None if head else data
        body = _body(ctx, answer, head)
        if body is not _GONE:
            return answer, body
        ctx.renditions.forget(made.key)
    return None, None


_GONE = Serving()  # what _body answers for a file missing from the store


def _body(ctx: Context, answer: Answer, head: bool) -> Body:
    """How to send the file under ``answer.key``: a redirect, its bytes, an
    open file or a started stream, nothing for HEAD; ``_GONE`` when it is
    not in the store."""
    key = answer.key
    serving = ctx.services.blobs.serving(key)
    if serving.url:
        return serving
    if head:
        return None
    try:
        if serving.path is None:
            return _from_bucket(ctx, key, answer.size)
        stream = serving.path.open("rb")
    except (FileNotFoundError, IsADirectoryError, NotFound):
        return _GONE
    if answer.size > _CHUNK:
        return stream
    with stream:
        return stream.read()


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


@dataclass(frozen=True)
class Width:
    """``?width=``: a whole number of pixels, checked against the allowed
    widths by the handler (which knows the settings); anything else is
    handed over as text, to be refused there with the list."""

    def read(self, text: str, name: str) -> int | str:
        return int(text) if re.fullmatch(r"[1-9][0-9]{0,4}", text) else text

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "enum": list(DEFAULT_WIDTHS)}


def _width(ctx: Context, given: int | str | None) -> int | None:
    allowed = ctx.services.delivery.widths
    if given is None:
        return None
    if given not in allowed:
        shown = str(given)[:20]
        if not allowed:
            raise BadRequest("This server serves no widths: ?width= is not allowed")
        raise BadRequest(
            f"Parameter 'width' must be one of {', '.join(map(str, allowed))}; got {shown!r}"
        )
    assert isinstance(given, int)
    return given


async def serve_file(call: Call) -> Response:
    request, ctx, store_id = call.request, call.ctx, call.store_id
    file_id, ext = call.args["fileName"]
    width = _width(ctx, call.args.get("width"))
    name = f"{file_id}.{ext}"
    if_none_match = request.headers.get("if-none-match", "")
    accept = request.headers.get("accept", "")
    head = request.method == "HEAD"
    found, body = await run_in_threadpool(
        _open, ctx, store_id, file_id, ext, if_none_match, head, accept, width
    )
    if found is None or body is _GONE:
        raise NotFound(f"No image file /images/{store_id}/{name}")
    # Range is ignored, as RFC 9110 allows: files are small and immutable.
    headers = {
        "ETag": f'"{found.etag}"',
        "Cache-Control": _CACHE,
        "Accept-Ranges": "none",
        # the type was decided by reading the bytes; a browser must not guess another
        "X-Content-Type-Options": "nosniff",
    }
    if found.vary:
        headers["Vary"] = "Accept"
    if body is None and _matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if isinstance(body, Serving):  # S3: the object store serves it (docs/deployment.md)
        headers["Cache-Control"] = f"public, max-age={body.seconds // 2}"
        return Response(status_code=307, headers={**headers, "Location": body.url})
    if body is None:  # HEAD
        headers["Content-Length"] = str(found.size)
        return Response(headers=headers, media_type=found.content_type)
    if isinstance(body, bytes):
        return Response(body, media_type=found.content_type, headers=headers)
    headers["Content-Length"] = str(found.size)
    chunks = _from_file(body) if isinstance(body, io.BufferedReader) else _from_stream(*body)
    return StreamingResponse(chunks, media_type=found.content_type, headers=headers)
