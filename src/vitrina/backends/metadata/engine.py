"""Engines for the two databases, with the settings each needs to be safe
under concurrent writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, pool
from sqlalchemy.engine import make_url

from vitrina import metrics
from vitrina.domain.errors import MetadataUnavailable

# PostgreSQL connections per server process (kept, and more at peak): the
# engine's, the hot reads', and one for the version check (async_versions)
WRITER_POOL = (8, 16)
READER_POOL = (4, 12)

POSTGRES_INSTALL = "pip install 'vitrina[postgres]'  (or: pip install 'psycopg[binary]')"


def create_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _counted(_sqlite_engine(parsed))
    if backend in ("postgresql", "postgres"):
        return _counted(_postgres_engine(parsed))
    raise MetadataUnavailable(f"Unsupported database URL scheme {parsed.drivername!r}")


def _counted(engine: sa.Engine) -> sa.Engine:
    """The pool's connections in use, as a metric."""

    @event.listens_for(engine, "checkout")
    def _out(*_: Any) -> None:
        metrics.db_connections.inc()

    @event.listens_for(engine, "checkin")
    def _in(*_: Any) -> None:
        metrics.db_connections.dec()

    return engine


def create_reader(engine: sa.Engine) -> sa.Engine:
    """A second engine for the hottest single-row reads (``SqlDatabase.one``:
    the catalog version, a file's record), in autocommit mode, so such a read
    is one driver call instead of a transaction. SQLite: one connection per
    thread, kept open. PostgreSQL: a small pool, since every thread that ever
    read would otherwise hold a server connection (docs/deployment.md counts
    them)."""
    if engine.dialect.name == "sqlite":
        reader = sa.create_engine(
            engine.url,
            poolclass=pool.SingletonThreadPool,
            pool_size=64,
            connect_args={"timeout": 30, "check_same_thread": False},
        )

        @event.listens_for(reader, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            _pragmas(dbapi_conn, "busy_timeout=30000", "query_only=ON")

        return reader
    return sa.create_engine(
        engine.url,
        pool_size=READER_POOL[0],
        max_overflow=READER_POOL[1],
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
    )


def _pragmas(dbapi_conn: Any, *pragmas: str) -> None:
    """Autocommit at the driver (transactions are opened explicitly), then the pragmas."""
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    for pragma in pragmas:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below open transactions, so that
        # writers can ask for BEGIN IMMEDIATE and never deadlock on upgrade.
        _pragmas(
            dbapi_conn,
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("vitrina_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: sa.URL) -> sa.Engine:
    try:
        import psycopg  # noqa: F401 -- only checking that it is installed
    except ImportError:
        raise MetadataUnavailable(
            f"PostgreSQL needs the psycopg driver, which is not installed: {POSTGRES_INSTALL}"
        ) from None
    url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url, pool_size=WRITER_POOL[0], max_overflow=WRITER_POOL[1], pool_pre_ping=True
    )
