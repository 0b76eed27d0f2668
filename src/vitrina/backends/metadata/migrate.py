"""Schema migrations with Alembic, run from code (``vitrina migrate`` and
start-up), the same for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc

from vitrina.domain.errors import MetadataUnavailable

_SCRIPTS = Path(__file__).resolve().parents[2] / "migrations"  # vitrina/migrations

# Any constant will do: it names the lock every vitrina process takes while migrating.
_PG_LOCK_KEY = 0x76697472


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current(engine: sa.Engine) -> None:
    """Refuse to work on a database whose schema is not this version's."""
    with _reachable(engine):
        found = current(engine)
    wanted = head()
    if found != wanted:
        raise MetadataUnavailable(
            f"The database schema is at revision {found or 'none (an empty database)'}, "
            f"this vitrina needs {wanted}: run `vitrina migrate` (vitrina serve does it too)"
        )


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision. On PostgreSQL an advisory lock
    makes concurrent runs from several machines wait for each other; the late
    ones then find nothing left to do."""
    with _reachable(engine):
        _upgrade(engine)


@contextmanager
def _reachable(engine: sa.Engine) -> Iterator[None]:
    """A database that cannot be reached is one line naming it (no password)."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        raise MetadataUnavailable(
            f"Cannot reach the metadata database {_safe(engine.url)}: {first_line}"
        ) from None


def _safe(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _upgrade(engine: sa.Engine) -> None:
    config = _config()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})")
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
                conn.commit()
