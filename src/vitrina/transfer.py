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
from typing import Any

from vitrina.bootstrap import Services
from vitrina.errors import BadRequest, VitrinaError
from vitrina.interfaces import TableDump
from vitrina.naming import content_type

FORMAT = "vitrina-dump-1"


def _sha256(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def export(services: Services, folder: Path) -> dict[str, Any]:
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
    manifest = {
        "format": FORMAT,
        "revision": dump.revision,
        "counts": dict(dump.counts),
        "counters": dict(dump.counters),
        "files": checksums,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def import_(services: Services, folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BadRequest(f"{folder} does not hold a vitrina export")
    dump = TableDump(
        manifest["revision"], manifest["counts"], manifest["counters"], tuple(manifest["files"])
    )
    if dump.revision != services.metadata.schema_revision():
        raise BadRequest(
            f"The export is at schema revision {dump.revision}, this database at "
            f"{services.metadata.schema_revision()}; run the same vitrina version on both"
        )
    if services.metadata.stores.list_stores():
        raise BadRequest("The target database already has stores; import into an empty one")
    # Files first: until the rows exist nothing points at them.
    for key, checksum in manifest["files"].items():
        source = folder / "files" / key
        if _file_sha256(source) != checksum:
            raise VitrinaError(f"The export's copy of {key} does not match its checksum")
        services.blobs.put(key, source, content_type(key.rsplit(".", 1)[-1]))
        if _sha256(services.blobs.read(key)) != checksum:
            raise VitrinaError(f"{key} did not arrive intact in the file store")
    services.metadata.load(folder / "tables", dump)
    return manifest
