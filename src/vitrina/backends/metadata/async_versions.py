"""The catalog-version check on PostgreSQL, on the event loop: a read of an
unchanged store costs no thread hop, and is as fresh as the database (a
write another process has confirmed is seen by the next read here).

Checks are coalesced. A caller waits for the first query that *starts after*
it asked; every caller that asked meanwhile, whatever its store, shares that
query (one statement reads the versions of all their stores). A query already
under way when a caller arrives may have started before a write the caller
knows of, so it never answers that caller. Under load one round trip serves
every request that arrived during the previous one; a lone request costs one
round trip.

The connection is psycopg's, driven through its libpq wrapper (``pgconn``):
the statement is prepared once, the socket stays registered with the loop,
and a round trip costs a send and a callback, not a pool checkout and a
cursor (a third of the CPU of ``AsyncConnection.execute``, measured)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from vitrina.domain.errors import MetadataUnavailable

if TYPE_CHECKING:
    import psycopg

ANSWER_WITHIN = 10.0  # seconds to connect, or to answer one check

_STATEMENT = b"vitrina_catalog_versions"
_PREPARE = (
    "PREPARE vitrina_catalog_versions (bigint[]) AS "
    "SELECT id, catalog_version FROM stores WHERE id = ANY($1)"
)


class AsyncVersions:
    """One connection of one event loop (made there, lazily; closed by
    ``aclose`` in the app's lifespan), one query in flight at a time."""

    def __init__(self, url: sa.URL, timeout: float = ANSWER_WITHIN) -> None:
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.timeout = timeout
        self.queries = 0  # round trips made, for tests and benchmarks
        self._waiting: dict[int, list[asyncio.Future[int | None]]] = {}
        self._flying: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._answer: asyncio.Future[Any] | None = None  # the query in flight's result
        self._result: Any = None
        self._fd = -1

    async def version(self, store_id: int) -> int | None:
        """The store's catalog version, read by a query that started after
        this call (None for a store that does not exist)."""
        # each caller waits on a future of its own: one that gives up
        # (cancelled) leaves the others' answer alone
        waiter: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.get(store_id)
        if waiters is None:
            self._waiting[store_id] = [waiter]
        else:
            waiters.append(waiter)
        if self._flying is None:
            self._flying = asyncio.create_task(self._fly())
        return await waiter

    async def _fly(self) -> None:
        """Queries while anyone waits: each for everyone who asked before it started."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, {}
                try:
                    found = await self._query(list(batch))
                except Exception as exc:  # every waiter hears the same error
                    exc = _unavailable(exc)
                    for waiters in batch.values():
                        for waiter in waiters:
                            if not waiter.done():
                                waiter.set_exception(exc)
                except asyncio.CancelledError:
                    for waiters in batch.values():
                        for waiter in waiters:
                            waiter.cancel()
                    raise
                else:
                    for store_id, waiters in batch.items():
                        version = found.get(store_id)
                        for waiter in waiters:
                            if not waiter.done():
                                waiter.set_result(version)
        finally:
            self._flying = None

    async def _query(self, store_ids: list[int]) -> dict[int, int]:
        """The versions of these stores, by a query sent now. A connection
        found broken (the database restarted, say) is replaced, and the
        query asked once more on the new one."""
        import psycopg

        reused = self._conn is not None
        try:
            return await self._ask(self._conn or await self._connect(), store_ids)
        except psycopg.OperationalError:
            if not reused:
                raise
        return await self._ask(await self._connect(), store_ids)

    async def _ask(
        self, conn: psycopg.AsyncConnection[Any], store_ids: list[int]
    ) -> dict[int, int]:
        from psycopg import pq

        loop = asyncio.get_running_loop()
        self._answer = answer = loop.create_future()
        expiry = loop.call_later(self.timeout, self._expire, answer)
        self.queries += 1
        try:
            pgconn = conn.pgconn
            pgconn.send_query_prepared(
                _STATEMENT, [("{" + ",".join(map(str, store_ids)) + "}").encode()]
            )
            while pgconn.flush():  # 1: not all sent yet (a check is tiny: rare)
                await asyncio.sleep(0.001)
            result = await answer
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise _refused(result)
        except BaseException:
            self._drop()
            raise
        finally:
            expiry.cancel()
            self._answer = None
        return {
            int(result.get_value(row, 0)): int(result.get_value(row, 1))
            for row in range(result.ntuples)
        }

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        try:
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(self.conninfo, autocommit=True), self.timeout
            )
        except (psycopg.Error, TimeoutError) as exc:
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(exc).__name__})"
            ) from exc
        try:
            await conn.execute(_PREPARE)
        except BaseException:
            await conn.close()
            raise
        conn.pgconn.nonblocking = 1
        # kept: a broken connection no longer tells its socket's number
        self._fd = conn.pgconn.socket
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self._conn = conn
        return conn

    def _readable(self) -> None:
        """The socket has data: the answer to the query in flight (a result,
        then None), or, with none in flight, news such as a closed connection."""
        import psycopg

        assert self._conn is not None
        pgconn = self._conn.pgconn
        try:
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:  # this query's results are complete
                    if self._answer is not None and not self._answer.done():
                        self._answer.set_result(self._result)
                    self._result = None
                    return
                self._result = result
        except psycopg.OperationalError as exc:  # the connection is gone
            if self._answer is not None and not self._answer.done():
                self._answer.set_exception(exc)
            else:
                self._drop()  # the next check connects again

    def _expire(self, answer: asyncio.Future[Any]) -> None:
        if not answer.done():
            answer.set_exception(TimeoutError(f"no answer within {self.timeout:g}s"))

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._result = None
        if conn is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            conn.pgconn.finish()  # what AsyncConnection.close does, without awaiting

    async def aclose(self) -> None:
        if self._flying is not None:
            self._flying.cancel()
            await asyncio.gather(self._flying, return_exceptions=True)
        for waiters in self._waiting.values():
            for waiter in waiters:
                waiter.cancel()
        self._waiting.clear()
        self._drop()


def _refused(result: Any) -> Exception:
    import psycopg

    message = (result.error_message or b"").decode(errors="replace").strip()
    return psycopg.OperationalError(message or "the version check failed")


def _unavailable(exc: Exception) -> Exception:
    """What a reader is told: the database is not reachable (503)."""
    if isinstance(exc, MetadataUnavailable):
        return exc
    error = MetadataUnavailable(f"The metadata database is not reachable ({type(exc).__name__})")
    error.__cause__ = exc
    return error
