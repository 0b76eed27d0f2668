"""The request log in the SQL metadata database: the last REQUESTS_KEPT requests
per store. Each batch is one short write that also prunes the stores it touched,
so the table stays bounded on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vitrina.backends.metadata.schema import request_log, stores
from vitrina.backends.metadata.sql_base import SqlDatabase, aware, translate_errors
from vitrina.domain.values import REQUESTS_KEPT, RequestRecord


def _record(row: sa.Row[Any]) -> RequestRecord:
    return RequestRecord(
        id=row.id,
        store_id=row.store_id,
        at=aware(row.at),
        method=row.method,
        path=row.path,
        query=row.query,
        status=row.status,
        duration_ms=row.duration_ms,
        error_code=row.error_code,
    )


class SqlRequestLog:
    def __init__(self, db: SqlDatabase, keep: int = REQUESTS_KEPT) -> None:
        self.db = db
        self.keep = keep

    @translate_errors
    def record(self, entries: Sequence[RequestRecord]) -> None:
        if not entries:
            return
        touched = {e.store_id for e in entries}
        with self.db.write() as conn:
            known = set(conn.scalars(sa.select(stores.c.id).where(stores.c.id.in_(touched))))
            rows = [
                {
                    "store_id": e.store_id,
                    "at": e.at,
                    "method": e.method[:10],
                    "path": e.path[:2000],
                    "query": e.query[:2000],
                    "status": e.status,
                    "duration_ms": e.duration_ms,
                    "error_code": e.error_code[:40],
                }
                for e in entries
                if e.store_id in known
            ]
            if rows and self.db.sqlite:
                conn.execute(request_log.insert(), rows)
            elif rows:  # a busy second's thousand rows: COPY costs a tenth of an INSERT's CPU
                _copy(conn, rows)
            for store_id in known:
                oldest_kept = (
                    sa.select(request_log.c.id)
                    .where(request_log.c.store_id == store_id)
                    .order_by(request_log.c.id.desc())
                    .offset(self.keep - 1)
                    .limit(1)
                    .scalar_subquery()
                )
                conn.execute(
                    request_log.delete().where(
                        request_log.c.store_id == store_id, request_log.c.id < oldest_kept
                    )
                )

    @translate_errors
    def recent(
        self,
        store_id: int,
        limit: int = 100,
        after_id: int = 0,
        status_class: int | None = None,
        path_contains: str = "",
    ) -> list[RequestRecord]:
        query = (
            sa.select(request_log)
            .where(request_log.c.store_id == store_id, request_log.c.id > after_id)
            .order_by(request_log.c.id.desc())
            .limit(limit)
        )
        if status_class is not None:
            low = status_class * 100
            query = query.where(request_log.c.status >= low, request_log.c.status < low + 100)
        if path_contains:
            query = query.where(request_log.c.path.contains(path_contains, autoescape=True))
        with self.db.read() as conn:
            return [_record(row) for row in conn.execute(query)]


def _copy(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the rows through COPY, in the connection's transaction."""
    columns = list(rows[0])
    driver: Any = conn.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY request_log ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[c] for c in columns])
