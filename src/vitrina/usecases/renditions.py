"""Renditions made on first request, stored, and made once per process at a
time (vitrina.domain.renditions names them; docs/images.md says why they
are made on first request rather than at upload).

A request for a rendition this process has not seen looks for it in the
blob store; when it is not there, the request makes it: the image's
original (its largest, least processed file) is decoded once more under
the decode budget (so first requests cannot take more of the CPU than
uploads may: past the budget's line they are answered 503), fitted,
encoded, and stored under its key. Requests for the same rendition that
arrive meanwhile wait for that one (single flight in the process; two
processes may each make it once, and both write the same bytes).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vitrina.bootstrap import Services
from vitrina.domain.errors import NotFound, Overloaded
from vitrina.domain.naming import EXTENSIONS, file_key
from vitrina.domain.renditions import fit_width, rendition_key, sniffed_type
from vitrina.domain.values import ROLES, StoredFile

_WAIT_SECONDS = 30.0  # for another request making the same rendition; then 503


@dataclass(frozen=True)
class Rendition:
    key: str
    size: int
    content_type: str


class Renditions:
    """The renditions this process knows are stored (key -> size and type,
    the ``entries`` most recently used), and those being made now."""

    def __init__(self, entries: int = 10_000) -> None:
        self.entries = entries
        self._known: OrderedDict[str, Rendition] = OrderedDict()
        self._making: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _remember(self, rendition: Rendition) -> None:
        with self._lock:
            self._known[rendition.key] = rendition
            self._known.move_to_end(rendition.key)
            while len(self._known) > self.entries:
                self._known.popitem(last=False)

    def forget(self, key: str) -> None:
        """A rendition found missing where it was known (removed by hand):
        the next request makes it again."""
        with self._lock:
            self._known.pop(key, None)

    def get(
        self,
        services: Services,
        store_id: int,
        found: StoredFile,
        fmt: str | None,
        width: int | None,
    ) -> tuple[Rendition, bytes | None]:
        """The rendition of ``found`` for browsers that accept ``fmt`` (None:
        the stored format) at ``width`` (None: the file's own size), made
        if need be; and its bytes when they were read or made just now."""
        key = rendition_key(_key(store_id, found), EXTENSIONS[fmt] if fmt else found.ext, width)
        while True:
            with self._lock:
                known = self._known.get(key)
                if known is not None:
                    self._known.move_to_end(key)
                    return known, None
                waiting = self._making.get(key)
                if waiting is None:
                    self._making[key] = threading.Event()
                    break
            # then it is known, or its maker failed and this one tries
            if not waiting.wait(_WAIT_SECONDS):
                raise Overloaded(1)
        try:
            data = _stored(services, key)
            if data is None:
                data = _make(services, store_id, found, fmt, width, key)
            rendition = Rendition(key, len(data), sniffed_type(data[:16]))
            self._remember(rendition)
            return rendition, data
        finally:
            with self._lock:
                self._making.pop(key).set()


def _stored(services: Services, key: str) -> bytes | None:
    try:
        return b"".join(services.blobs.read(key))
    except NotFound:
        return None


def _make(
    services: Services,
    store_id: int,
    found: StoredFile,
    fmt: str | None,
    width: int | None,
    key: str,
) -> bytes:
    original_id = found.id - ROLES.index(found.role)
    original = services.metadata.images.find_file(store_id, original_id)
    if original is None:
        raise NotFound(f"No image file /images/{store_id}/{found.id}.{found.ext}")
    if width is None:
        size, stored = (found.width, found.height), _stored(services, _key(store_id, found))
        if stored is None:
            raise NotFound(f"No image file /images/{store_id}/{found.id}.{found.ext}")
    else:
        size, stored = fit_width(original.width, original.height, width), None
    with services.decode_budget.slot(), _local_copy(services, _key(store_id, original)) as source:
        made = services.processor.render(source, *size, fmt, stored)
    assert isinstance(made.data, bytes)
    services.blobs.put(key, made.data, made.content_type)
    return made.data


def _key(store_id: int, file: StoredFile) -> str:
    """Where the file's bytes are: renditions of files stored once are made
    once, beside those bytes, and go with them."""
    return file_key(store_id, file.blob, file.ext)


@contextmanager
def _local_copy(services: Services, key: str) -> Iterator[Path]:
    """The stored file as a path: its own on local disk, else a temporary
    copy, removed afterwards."""
    path = services.blobs.serving(key).path
    if path is not None and path.exists():
        yield path
        return
    fd, name = tempfile.mkstemp(prefix="vitrina-", suffix=".original")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in services.blobs.read(key):
                out.write(chunk)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
