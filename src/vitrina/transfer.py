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
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vitrina.bootstrap import Services
from vitrina.errors import BadRequest, VitrinaError
from vitrina.metadata import migrate
from vitrina.metadata.schema import files, metadata
from vitrina.naming import content_type, file_key

FORMAT = "vitrina-dump-1"
_COUNTED = ("stores", "tokens", "categories", "jobs")  # tables whose ids come from a counter


def _sha256(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _engine(services: Services) -> sa.Engine:
    if services.engine is None:
        raise VitrinaError("export and import need an SQL metadata store")
    return services.engine


def _counters(conn: sa.Connection) -> dict[str, int]:
    """The last id handed out per table (deleted ids included)."""
    found: dict[str, int] = {}
    if conn.dialect.name == "sqlite":
        for name, seq in conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence"):
            found[name] = int(seq)
    else:
        for table in _COUNTED:
            value = conn.exec_driver_sql(
                f"SELECT last_value, is_called FROM {table}_id_seq"  # noqa: S608 -- fixed names
            ).one()
            found[table] = int(value[0]) if value[1] else 0
    return {t: found.get(t, 0) for t in _COUNTED}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot write {type(value).__name__}")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v["$datetime"]) if isinstance(v, dict) and "$datetime" in v else v
        for k, v in row.items()
    }


def export(services: Services, folder: Path) -> dict[str, Any]:
    if folder.exists() and any(folder.iterdir()):
        raise BadRequest(f"{folder} is not empty; export into a new folder")
    (folder / "tables").mkdir(parents=True)
    engine = _engine(services)
    counts: dict[str, int] = {}
    with engine.connect() as conn, conn.begin():  # one consistent snapshot
        revision = migrate.current(engine)
        for table in metadata.sorted_tables:
            rows = 0
            with (folder / "tables" / f"{table.name}.jsonl").open("w") as out:
                for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)):
                    out.write(json.dumps(dict(row._mapping), default=_json_default) + "\n")
                    rows += 1
            counts[table.name] = rows
        counters = _counters(conn)
        keys = [file_key(r.store_id, r.id, r.ext) for r in conn.execute(sa.select(files))]
    checksums = {}
    for key in keys:
        target = folder / "files" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in services.blobs.read(key):
                out.write(chunk)
        checksums[key] = _file_sha256(target)
    manifest = {
        "format": FORMAT,
        "revision": revision,
        "counts": counts,
        "counters": counters,
        "files": checksums,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def import_(services: Services, folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BadRequest(f"{folder} does not hold a vitrina export")
    engine = _engine(services)
    if manifest["revision"] != migrate.current(engine):
        raise BadRequest(
            f"The export is at schema revision {manifest['revision']}, this database at "
            f"{migrate.current(engine)}; run the same vitrina version on both"
        )
    if services.metadata.stores.list_stores():
        raise BadRequest("The target database already has stores; import into an empty one")
    # Files first: until the rows exist nothing points at them.
    for key, checksum in manifest["files"].items():
        source = folder / "files" / key
        if _file_sha256(source) != checksum:
            raise VitrinaError(f"The export's copy of {key} does not match its checksum")
        services.blobs.put(key, source, _type(key))
        if _sha256(services.blobs.read(key)) != checksum:
            raise VitrinaError(f"{key} did not arrive intact in the file store")
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("DELETE FROM file_ids"))
        for table in metadata.sorted_tables:
            with (folder / "tables" / f"{table.name}.jsonl").open() as rows:
                batch = [_decode(json.loads(line)) for line in rows if line.strip()]
            for start in range(0, len(batch), 500):
                conn.execute(table.insert(), batch[start : start + 500])
            found = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            if found != manifest["counts"][table.name]:
                raise VitrinaError(
                    f"Table {table.name}: {found} rows, expected {manifest['counts'][table.name]}"
                )
        _restore_counters(conn, manifest["counters"])
    return manifest


def _restore_counters(conn: sa.Connection, counters: dict[str, int]) -> None:
    for table, value in counters.items():
        if not value:
            continue
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value)
            )
        else:
            conn.exec_driver_sql(f"SELECT setval('{table}_id_seq', %s, true)", (value,))


def _type(key: str) -> str:
    return content_type(key.rsplit(".", 1)[-1])
