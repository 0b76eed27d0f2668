"""Every table of the metadata database to JSON lines and back, for `vitrina
export` and `vitrina import`: rows by primary key, in one consistent
snapshot, with the schema revision and the id counters (so ids are never
handed out twice after a move)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from vitrina.errors import BadRequest, VitrinaError
from vitrina.interfaces import TableDump
from vitrina.metadata import migrate
from vitrina.metadata.schema import files, metadata
from vitrina.metadata.sql_base import SqlDatabase
from vitrina.naming import file_key

# tables whose ids come from a counter
_COUNTED = ("stores", "tokens", "categories", "jobs", "request_log", "catalog_deletions")


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


def _restore_counters(conn: sa.Connection, counters: Mapping[str, int]) -> None:
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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot write {type(value).__name__}")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v["$datetime"]) if isinstance(v, dict) and "$datetime" in v else v
        for k, v in row.items()
    }


class SqlDump:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def dump(self, folder: Path) -> TableDump:
        """Write ``folder/NAME.jsonl`` for every table."""
        folder.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        with self.db.engine.connect() as conn, conn.begin():  # one consistent snapshot
            revision = migrate.current(self.db.engine) or ""
            for table in metadata.sorted_tables:
                rows = 0
                with (folder / f"{table.name}.jsonl").open("w") as out:
                    query = sa.select(table).order_by(*table.primary_key.columns)
                    for row in conn.execute(query):
                        out.write(json.dumps(dict(row._mapping), default=_json_default) + "\n")
                        rows += 1
                counts[table.name] = rows
            counters = _counters(conn)
            keys = tuple(file_key(r.store_id, r.id, r.ext) for r in conn.execute(sa.select(files)))
        return TableDump(revision, counts, counters, keys)

    def load(self, folder: Path, dump: TableDump) -> None:
        """Load what ``dump`` wrote into this (empty) database, checking every count."""
        current = migrate.current(self.db.engine)
        if dump.revision != current:
            raise BadRequest(
                f"The export is at schema revision {dump.revision}, this database at "
                f"{current}; run the same vitrina version on both"
            )
        with self.db.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("DELETE FROM file_ids"))
            for table in metadata.sorted_tables:
                with (folder / f"{table.name}.jsonl").open() as rows:
                    batch = [_decode(json.loads(line)) for line in rows if line.strip()]
                for start in range(0, len(batch), 500):
                    conn.execute(table.insert(), batch[start : start + 500])
                found = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                if found != dump.counts[table.name]:
                    raise VitrinaError(
                        f"Table {table.name}: {found} rows, expected {dump.counts[table.name]}"
                    )
            _restore_counters(conn, dump.counters)
