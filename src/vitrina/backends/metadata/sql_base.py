"""The SQL database under every metadata role: SQLite or PostgreSQL through
SQLAlchemy Core. Every write runs in one transaction; on SQLite it is opened
with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
A write made for a batch request (``domain.batches.RUNNING``) marks that
request applied in the same transaction, fenced by its runner's claim.
Foreign errors become ours here (``translate_errors``)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from vitrina.backends.metadata.engine import create_reader
from vitrina.backends.metadata.schema import (
    batch_items,
    batch_tickets,
    catalog_deletions,
    categories,
    stores,
)
from vitrina.domain.batches import RUNNING
from vitrina.domain.errors import ClaimLost, MetadataUnavailable, VitrinaError

P = ParamSpec("P")
R = TypeVar("R")


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """No SQLAlchemy or driver exception leaves the store."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            cause = getattr(exc, "orig", None) or exc
            raise MetadataUnavailable(
                f"The metadata database is not reachable ({type(cause).__name__})"
            ) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise VitrinaError("The metadata database refused the operation") from exc

    return wrapper


def _unreachable(exc: Exception) -> MetadataUnavailable:
    return MetadataUnavailable(f"The metadata database is not reachable ({type(exc).__name__})")


class SqlDatabase:
    """An engine, a reader for the hottest point reads, and transactions."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._reader = create_reader(engine)
        self._held = threading.local()

    def close(self) -> None:
        self._held = threading.local()
        self._reader.dispose()

    @translate_errors
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def one(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        """One row of a single-statement read, straight through the driver.
        ``sql`` uses ``?`` placeholders."""
        if self.sqlite:
            return self._one_sqlite(sql, params)
        raw = self._reader.raw_connection()  # PostgreSQL: from the reader's pool
        try:
            cursor = raw.cursor()
            cursor.execute(sql.replace("?", "%s"), params)
            row = cursor.fetchone()
            cursor.close()
        except Exception as exc:
            raw.invalidate()
            raise _unreachable(exc) from exc
        finally:
            raw.close()
        return tuple(row) if row is not None else None

    def _one_sqlite(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """SQLite: each thread keeps its connection checked out (a checkout
        costs more than the read), and calls the driver's own execute (a
        cursor through the pool's proxy cost as much as the read)."""
        held = getattr(self._held, "raw", None)
        if held is None:
            held = self._held.raw = self._reader.raw_connection()
        driver: Any = held.driver_connection
        try:
            row = driver.execute(sql, params).fetchone()
        except Exception as exc:
            self._held.raw = None
            held.invalidate()
            raise _unreachable(exc) from exc
        return tuple(row) if row is not None else None

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(
        self, store_id: int | None = None, bookkeeping: bool = False
    ) -> Iterator[sa.Connection]:
        """A write transaction. Naming the store bumps its catalog version first,
        which tells every process's read cache that the store changed (and, on
        PostgreSQL, orders the store's writers on its row). The writes then
        stamp what they change with it: ``touch`` and ``forget``.
        ``bookkeeping``: a write that is no request's effect (a rate count),
        which never marks a batch request applied."""
        with self.engine.connect() as conn:
            if self.sqlite:
                conn.execution_options(vitrina_begin="IMMEDIATE")
            with conn.begin():
                if store_id is not None:
                    conn.info["catalog_version"] = conn.execute(
                        stores.update()
                        .where(stores.c.id == store_id)
                        .values(catalog_version=stores.c.catalog_version + 1)
                        .returning(stores.c.catalog_version)
                    ).scalar()
                    conn.info["store_id"] = store_id
                yield conn
                if not bookkeeping:
                    self._applied(conn)
                conn.info.pop("catalog_version", None)

    def _applied(self, conn: sa.Connection) -> None:
        """When this write is a batch request's, mark the request applied in
        it, so that a runner taking the ticket over after a crash knows
        whether it took effect; and only while the claim running it holds
        (the ticket's row is locked until the commit, so a newer claim
        waits and then sees the mark): a runner whose lease ran out while
        it worked has its write undone (ClaimLost) rather than made twice."""
        running = RUNNING.get()
        if running is None:
            return
        held = conn.execute(
            self.lock(
                sa.select(batch_tickets.c.claims).where(
                    batch_tickets.c.id == running.ticket_id, batch_tickets.c.state == "open"
                )
            )
        ).scalar()
        if held != running.claim:
            raise ClaimLost(
                "The batch ticket was deleted, or taken over by another worker, while this "
                "request ran: its change is undone"
            )
        conn.execute(
            batch_items.update()
            .where(
                batch_items.c.ticket_id == running.ticket_id,
                batch_items.c.position == running.position,
                batch_items.c.applied_at.is_(None),
            )
            .values(applied_at=now())
        )

    def lock(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """Row locks on PostgreSQL; SQLite's write transaction already excludes."""
        return query if self.sqlite else query.with_for_update()


# How many catalog versions of deletions are kept for patching read caches.
CHANGES_KEPT = 10_000


def waiting(table: sa.Table, column: str, state: str) -> sa.CTE:
    """The distinct values of ``column`` (a store's or an app's id) among the
    rows of ``table`` in ``state``, walked by a loose index scan: each step
    is one index lookup, the next value above the last, so no step visits
    every row (a queue's fair claim). A recursive CTE ``waiting`` of one
    column of that name, which ends in a NULL."""
    other = table.alias("other")
    first = (
        sa.select(sa.func.min(table.c[column]).label(column))
        .where(table.c.state == state)
        .cte("waiting", recursive=True)
    )
    following = (
        sa.select(sa.func.min(other.c[column]))
        .where(other.c.state == state, other.c[column] > first.c[column])
        .scalar_subquery()
    )
    return first.union_all(sa.select(following).where(first.c[column].is_not(None)))


def touch(conn: sa.Connection, *category_ids: int) -> None:
    """Mark categories as changed by this write (``SqlDatabase.write(store)``),
    so that read caches fetch them again, and only them."""
    if category_ids:
        conn.execute(
            categories.update()
            .where(categories.c.id.in_(category_ids))
            .values(version=conn.info["catalog_version"])
        )


def forget(conn: sa.Connection, category_ids: Sequence[int]) -> None:
    """Record categories this write deletes, for the read caches; drop the
    records no cache can still need."""
    version, store_id = conn.info["catalog_version"], conn.info["store_id"]
    if category_ids:
        conn.execute(
            catalog_deletions.insert(),
            [{"store_id": store_id, "version": version, "category_id": c} for c in category_ids],
        )
    conn.execute(
        catalog_deletions.delete().where(
            catalog_deletions.c.store_id == store_id,
            catalog_deletions.c.version < version - CHANGES_KEPT,
        )
    )
