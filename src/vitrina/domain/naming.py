"""How image files are named, in one place (docs/differences.md).

- The four files of one upload get consecutive ids, allocated together in
  ``ROLES`` order (original, thumbnail, hd, image); the upload's image id is
  the thumbnail's file id. (An upload of bytes its store already has gets
  ids and files of its own too, whose bytes are stored once: under the key
  of the first file that held them, ``StoredFile.blob``.)
- A file is stored under the key ``<storeId>/<fileId>.<ext>`` and served at
  ``/images/<storeId>/<fileId>.<ext>``, with a strong ETag taken from its
  bytes and the content type of its format.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from vitrina import wire
from vitrina.domain.values import ROLES

CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "heif": "image/heic",
}
EXTENSIONS = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "avif": "avif",
    "heif": "heic",
}
_TYPE_OF_EXTENSION = {EXTENSIONS[fmt]: CONTENT_TYPES[fmt] for fmt in EXTENSIONS}


def image_id(file_ids: list[int]) -> int:
    """The image id of an upload whose files got ``file_ids`` (in ROLES order)."""
    return file_ids[ROLES.index("thumbnail")]


def file_ids(image_id: int) -> list[int]:
    """The ids of the files of the upload whose image id is ``image_id``."""
    first = image_id - ROLES.index("thumbnail")
    return [first + offset for offset in range(len(ROLES))]


def file_key(store_id: int, file_id: int, ext: str) -> str:
    return f"{store_id}/{file_id}.{ext}"


def parse_key(key: str) -> tuple[int, int, str] | None:
    """(store id, file id, extension) of a key, or None for any other name."""
    folder, _, name = key.rpartition("/")
    file_id, ext = parse_file_name(name)
    store_id = wire.STORE_ID.read(folder.rsplit("/", 1)[-1])
    if store_id is None or file_id is None or not ext:
        return None
    return store_id, file_id, ext


def parse_file_name(name: str) -> tuple[int | None, str]:
    """(file id or None, extension) of ``<fileId>.<ext>``."""
    stem, _, ext = name.partition(".")
    return wire.FILE_ID.read(stem), ext


def public_path(store_id: int, file_id: int, ext: str) -> str:
    return f"/images/{file_key(store_id, file_id, ext)}"


def content_type(ext: str) -> str:
    return _TYPE_OF_EXTENSION.get(ext, "application/octet-stream")


def etag(data: bytes | Path) -> str:
    """The strong ETag of a file's bytes (without quotes)."""
    if isinstance(data, Path):
        with data.open("rb") as stream:
            return etag_of(hashlib.file_digest(stream, "sha256"))
    return etag_of(hashlib.sha256(data))


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def etag_digest() -> Digest:
    """A digest to feed a file's bytes as they are written; ``etag_of`` it
    then gives the file's ETag without reading it again."""
    return hashlib.sha256()


def etag_of(digest: Digest) -> str:
    return digest.hexdigest()[:40]
