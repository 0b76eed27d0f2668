"""Image files in a folder on local disk.

Writes go to a temporary name in the same folder, are flushed, then renamed,
and the folder is flushed: readers see the whole file or none, and a file
that was stored stays stored through a power cut. A scratch file that was
written in the key's folder (``scratch_folder``) is stored by that rename
alone (``place``): its bytes are never copied. Keys are resolved and checked
against the root, so no key can name a file outside it.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from vitrina import metrics
from vitrina.domain.errors import NotFound, StorageUnavailable
from vitrina.domain.values import BlobEntry, Serving

_CHUNK = 256 * 1024


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries: the rename just made is then on disk too."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"Cannot create the files folder {self.root}: {exc.strerror}"
            ) from None

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise NotFound("No such file")
        return path

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"The files folder {self.root} is not writable")

    def put(self, key: str, data: bytes | Path, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            try:
                os.fchmod(fd, 0o644)  # mkstemp makes 0600; web servers and CDNs must read it
                with os.fdopen(fd, "wb") as out:
                    if isinstance(data, Path):
                        with data.open("rb") as source:
                            shutil.copyfileobj(source, out, _CHUNK)
                    else:
                        out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _sync_folder(path.parent)
        except OSError as exc:
            metrics.blob_errors.labels("write").inc()
            raise StorageUnavailable(f"Cannot write an image file: {exc.strerror}") from None

    def scratch_folder(self, key: str) -> Path | None:
        folder = self._path(key).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            metrics.blob_errors.labels("write").inc()
            raise StorageUnavailable(f"Cannot write an image file: {exc.strerror}") from None
        return folder

    def place(self, key: str, path: Path, content_type: str) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fchmod(fd, 0o644)  # scratch files may be 0600; web servers must read it
                os.fsync(fd)  # its bytes on disk before any name points at them
            finally:
                os.close(fd)
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self.put(key, path, content_type)  # another file system: copied, once more
                path.unlink(missing_ok=True)
                return
            _sync_folder(target.parent)
        except OSError as exc:
            metrics.blob_errors.labels("write").inc()
            raise StorageUnavailable(f"Cannot write an image file: {exc.strerror}") from None

    def serving(self, key: str) -> Serving:
        """Its file, always: whoever opens it finds out whether it is there."""
        return Serving(path=self._path(key))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            source = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound("No such file") from None
        with source:
            while chunk := source.read(_CHUNK):
                yield chunk

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
            except OSError as exc:
                metrics.blob_errors.labels("delete").inc()
                raise StorageUnavailable(f"Cannot delete an image file: {exc.strerror}") from None

    def list(self) -> Iterator[BlobEntry]:
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield BlobEntry(
                    key=path.relative_to(self.root).as_posix(),
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )
