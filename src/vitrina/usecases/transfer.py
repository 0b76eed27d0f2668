"""Moving an installation: `vitrina export DIR` writes every table and every
image file to a folder, with SHA-256 checksums; `vitrina import DIR` loads it
into another database and file store (for example from SQLite and a local
folder to PostgreSQL and S3) and verifies every file it wrote by reading it
back. Ids are kept, and so are the counters that keep ids from being reused.

The dump folder:

    manifest.json      schema revision, row counts, id counters, file checksums
    tables/NAME.jsonl  one JSON object per row
    files/KEY          the image files, by blob key
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec

from vitrina.bootstrap import Services
from vitrina.domain.errors import BadRequest, VitrinaError
from vitrina.domain.naming import content_type, file_key, parse_key
from vitrina.domain.values import TableDump

FORMAT = "vitrina-dump-1"

_Count = Annotated[int, msgspec.Meta(ge=0)]
_Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    """manifest.json: which tables and counters the metadata store knows is
    checked by the store itself (``MetadataStore.check_dump``)."""

    format: str
    revision: str
    counts: dict[str, _Count]  # rows per table
    counters: dict[str, _Count]  # the last id handed out per table
    files: dict[str, _Sha256]  # blob key: SHA-256 of its bytes


def _sha256(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def export(services: Services, folder: Path) -> Manifest:
    if folder.exists() and any(folder.iterdir()):
        raise BadRequest(f"{folder} is not empty; export into a new folder")
    dump = services.metadata.dump(folder / "tables")
    checksums = {}
    for key in dump.file_keys:
        target = folder / "files" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in services.blobs.read(key):
                out.write(chunk)
        checksums[key] = _file_sha256(target)
    manifest = Manifest(FORMAT, dump.revision, dict(dump.counts), dict(dump.counters), checksums)
    (folder / "manifest.json").write_text(
        json.dumps(msgspec.to_builtins(manifest), indent=1, sort_keys=True)
    )
    return manifest


def read_manifest(folder: Path) -> Manifest:
    """The dump's manifest, checked whole: its schema, and every file it names
    a regular file inside ``folder/files``. Nothing is copied or written."""
    try:
        text = (folder / "manifest.json").read_bytes()
    except OSError as exc:
        raise BadRequest(f"{folder} has no readable manifest.json: {exc.strerror}") from None
    try:
        manifest = msgspec.json.decode(text, type=Manifest)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"{folder}/manifest.json does not describe a dump: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"{folder}/manifest.json is not JSON: {exc}") from None
    if manifest.format != FORMAT:
        raise BadRequest(f"{folder} does not hold a vitrina export ({FORMAT})")
    files = folder / "files"
    for key in manifest.files:
        parsed = parse_key(key)
        if parsed is None or file_key(*parsed) != key:
            raise BadRequest(f"The manifest names {key!r}, which is not a file name of a dump")
        path = files / key
        inside = path.resolve().is_relative_to(files.resolve())
        if not inside or path.is_symlink() or not path.is_file():
            raise BadRequest(f"The export's {key} is missing or not a regular file")
    return manifest


def import_(services: Services, folder: Path) -> Manifest:
    """Load an export into an empty installation: everything is checked before
    the first file is copied, files are copied and read back, then the rows."""
    manifest = read_manifest(folder)
    dump = TableDump(manifest.revision, manifest.counts, manifest.counters, tuple(manifest.files))
    services.metadata.check_dump(dump)
    if services.metadata.stores.list_stores():
        raise BadRequest("The target database already has stores; import into an empty one")
    # Files first: until the rows exist nothing points at them. If anything
    # fails, the files copied so far are removed: nothing points at them.
    copied: list[str] = []
    try:
        for key, checksum in manifest.files.items():
            source = folder / "files" / key
            if _file_sha256(source) != checksum:
                raise BadRequest(f"The export's copy of {key} does not match its checksum")
            copied.append(key)
            services.blobs.put(key, source, content_type(key.rsplit(".", 1)[-1]))
            if _sha256(services.blobs.read(key)) != checksum:
                raise VitrinaError(f"{key} did not arrive intact in the file store")
        services.metadata.load(folder / "tables", dump)
    except BaseException:
        services.blobs.delete(copied)
        raise
    return manifest
