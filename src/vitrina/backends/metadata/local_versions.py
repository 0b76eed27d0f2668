"""The catalog version check where the database is a local file (SQLite):
a point read on the event loop's thread, cheaper than a hop to a worker
thread. PostgreSQL's, across a network, is metadata/async_versions.py."""

from __future__ import annotations

import sqlalchemy as sa

from vitrina.backends.metadata.sql_base import SqlDatabase, translate_errors
from vitrina.domain.errors import MetadataUnavailable


class LocalVersions:
    def __init__(self, engine: sa.Engine) -> None:
        self.db = SqlDatabase(engine)

    async def version(self, store_id: int) -> int | None:
        """The store's catalog version now (None: no such store)."""
        return self._read(store_id)

    @translate_errors
    def _read(self, store_id: int) -> int | None:
        row = self.db.one("SELECT catalog_version FROM stores WHERE id = ?", store_id)
        if row is None:
            return None
        if not isinstance(row[0], int):
            raise MetadataUnavailable("The store's catalog version is not a number")
        return row[0]

    async def aclose(self) -> None:
        self.db.close()
