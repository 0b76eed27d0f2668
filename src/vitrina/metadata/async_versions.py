"""The catalog-version check on PostgreSQL, awaited on the event loop with
psycopg's async API: a read of an unchanged store costs one round trip and
no thread hop, and is as fresh as the database (a write another process
has confirmed is seen by the next read here)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from vitrina.errors import MetadataUnavailable

_VERSION = "SELECT catalog_version FROM stores WHERE id = %s"


class AsyncVersions:
    """A few autocommit connections of one event loop (made there, lazily;
    closed by ``aclose`` in the app's lifespan)."""

    def __init__(self, url: sa.URL, size: int = 4) -> None:
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        self._idle: list[object] = []
        self._open = 0
        self._freed: asyncio.Condition | None = None

    async def version(self, store_id: int) -> int | None:
        import psycopg

        conn = await self._take()
        try:
            cursor = await conn.execute(_VERSION, (store_id,), prepare=True)  # type: ignore[attr-defined]
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            self._open -= 1
            await conn.close()  # type: ignore[attr-defined]
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(exc).__name__})"
            ) from exc
        await self._give(conn)
        return int(row[0]) if row else None

    async def _take(self) -> object:
        import psycopg

        if self._freed is None:
            self._freed = asyncio.Condition()
        async with self._freed:
            while not self._idle and self._open >= self.size:
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            self._open -= 1
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(exc).__name__})"
            ) from exc

    async def _give(self, conn: object) -> None:
        assert self._freed is not None
        async with self._freed:
            self._idle.append(conn)
            self._freed.notify()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()  # type: ignore[attr-defined]
        self._open -= len(idle)
