"""The catalog-version check on PostgreSQL, awaited on the event loop with
psycopg's async API: a read of an unchanged store costs no thread hop, and
is as fresh as the database (a write another process has confirmed is seen
by the next read here).

Checks of one store are coalesced: a caller waits for the first query that
*starts after* it asked, and every caller that asked meanwhile shares that
query's answer. A query already under way when a caller arrives may have
started before a write the caller knows of, so it never answers that caller.
Under load one round trip serves every request that arrived during the
previous one; a lone request costs one round trip, as before."""

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
        self.queries = 0  # round trips made, for tests and benchmarks
        self._idle: list[object] = []
        self._open = 0
        self._freed: asyncio.Condition | None = None
        # per store: who waits for the next query (not yet started), and the
        # task that runs queries while anyone waits
        self._next: dict[int, list[asyncio.Future[int | None]]] = {}
        self._checking: dict[int, asyncio.Task[None]] = {}

    async def version(self, store_id: int) -> int | None:
        """The store's catalog version, read by a query that started after
        this call (None for a store that does not exist)."""
        # each caller waits on a future of its own: one that gives up
        # (cancelled) leaves the others' answer alone
        waiter: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        batch = self._next.get(store_id)
        if batch is not None:
            batch.append(waiter)
        else:
            self._next[store_id] = [waiter]
            if store_id not in self._checking:
                self._checking[store_id] = asyncio.create_task(self._check(store_id))
        return await waiter

    async def _check(self, store_id: int) -> None:
        try:
            while (batch := self._next.pop(store_id, None)) is not None:
                try:
                    version = await self._query(store_id)
                except Exception as exc:  # every waiter gets the same error
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                except asyncio.CancelledError:
                    for waiter in batch:
                        waiter.cancel()
                    raise
                else:
                    for waiter in batch:
                        if not waiter.done():
                            waiter.set_result(version)
        finally:
            del self._checking[store_id]

    async def _query(self, store_id: int) -> int | None:
        import psycopg

        conn = await self._take()
        try:
            self.queries += 1
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
        checking = list(self._checking.values())
        for task in checking:
            task.cancel()
        await asyncio.gather(*checking, return_exceptions=True)
        for batch in self._next.values():
            for waiter in batch:
                waiter.cancel()
        self._next.clear()
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()  # type: ignore[attr-defined]
        self._open -= len(idle)
