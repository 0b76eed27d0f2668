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

from vitrina.backends.metadata import migrate
from vitrina.backends.metadata.dump_checks import (
    check_files,
    check_rows,
    check_shown_files,
    check_tree,
    highest_file_id,
)
from vitrina.backends.metadata.schema import categories, file_ids, files, images, jobs, metadata
from vitrina.backends.metadata.sql_base import SqlDatabase
from vitrina.domain.errors import BadRequest, VitrinaError
from vitrina.domain.naming import file_key
from vitrina.domain.values import TableDump

# tables whose ids come from a counter
_COUNTED = (
    "stores",
    "tokens",
    "categories",
    "jobs",
    "request_log",
    "catalog_deletions",
    "apps",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
    "batch_tickets",
)


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
    """Set each counter; only the tables of ``_COUNTED`` (check() refused any
    other name), and every name is a bound parameter, never SQL text."""
    for table, value in counters.items():
        if not value or table not in _COUNTED:
            continue
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value)
            )
        else:
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, true)", (table, value)
            )


def _past_every_id(conn: sa.Connection, counters: Mapping[str, int]) -> dict[str, int]:
    """The counters, each raised past the highest id its table holds: a dump
    whose counter is behind its rows must not make an id be handed out twice."""
    raised = dict(counters)
    for name in _COUNTED:
        table = metadata.tables[name]
        highest = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        raised[name] = max(int(raised.get(name, 0)), int(highest))
    return raised


def _rows(path: Path, table: sa.Table) -> list[dict[str, Any]]:
    """The rows of one table's file, each checked to name only its columns."""
    columns = set(table.columns.keys())
    rows = []
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise BadRequest(f"{path.name} line {number} is not JSON") from None
            if not isinstance(row, dict):
                raise BadRequest(f"{path.name} line {number} is not a JSON object")
            unknown = sorted(set(row) - columns)
            if unknown:
                raise BadRequest(f"{path.name} line {number}: unknown column {', '.join(unknown)}")
            try:
                rows.append(_decode(row))
            except BadRequest as exc:
                raise BadRequest(f"{path.name} line {number}: {exc.message}") from None
    return rows


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot write {type(value).__name__}")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    decoded = {}
    for key, value in row.items():
        if isinstance(value, dict) and "$datetime" in value:
            try:
                value = datetime.fromisoformat(str(value["$datetime"]))
            except ValueError:
                raise BadRequest(f"column {key}: {value['$datetime']!r} is not a time") from None
        decoded[key] = value
    return decoded


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
            keys = tuple(  # the stored bytes: a file's own, or those it shows of another's
                dict.fromkeys(
                    file_key(r.store_id, r.id if r.blob_id is None else r.blob_id, r.ext)
                    for r in conn.execute(sa.select(files).order_by(files.c.id))
                )
            )
        return TableDump(revision, counts, counters, keys)

    def check(self, dump: TableDump) -> None:
        """Refuse a dump this database could not load, before anything is
        written: another schema revision, other tables, unknown counters."""
        current = migrate.current(self.db.engine)
        if dump.revision != current:
            raise BadRequest(
                f"The export is at schema revision {dump.revision}, this database at "
                f"{current}; run the same vitrina version on both"
            )
        tables = {t.name for t in metadata.sorted_tables}
        if set(dump.counts) != tables:
            missing, extra = sorted(tables - set(dump.counts)), sorted(set(dump.counts) - tables)
            raise BadRequest(
                f"The export's tables do not match this schema's (missing: "
                f"{', '.join(missing) or 'none'}; unknown: {', '.join(extra) or 'none'})"
            )
        unknown = sorted(set(dump.counters) - set(_COUNTED))
        if unknown:
            raise BadRequest(
                f"The export has an unknown counter {unknown[0]!r}; known: {', '.join(_COUNTED)}"
            )

    def load(self, folder: Path, dump: TableDump) -> None:
        """Load what ``dump`` wrote into this (empty) database, checking every
        row and count; nothing is kept unless all of it loads."""
        self.check(dump)
        with self.db.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("DELETE FROM file_ids"))
            for table in metadata.sorted_tables:
                batch = _rows(folder / f"{table.name}.jsonl", table)
                check_rows(table, batch, f"{table.name}.jsonl")
                if table is categories:
                    check_tree(batch)
                elif table is files:
                    check_files(batch, dump.file_keys)
                for start in range(0, len(batch), 500):
                    try:
                        conn.execute(table.insert(), batch[start : start + 500])
                    except sa.exc.StatementError as exc:
                        raise BadRequest(
                            f"{table.name}.jsonl rows {start + 1}-{start + 500} could not be "
                            f"loaded: {exc.orig or exc}"
                        ) from None
                found = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                if found != dump.counts[table.name]:
                    raise VitrinaError(
                        f"Table {table.name}: {found} rows, expected {dump.counts[table.name]}"
                    )
            check_shown_files(conn, files, images)
            _restore_counters(conn, _past_every_id(conn, dump.counters))
            highest = highest_file_id(conn, files, images, jobs)
            conn.execute(
                file_ids.update().values(next_id=sa.func.max(file_ids.c.next_id, highest + 1))
                if conn.dialect.name == "sqlite"
                else file_ids.update().values(
                    next_id=sa.func.greatest(file_ids.c.next_id, highest + 1)
                )
            )
