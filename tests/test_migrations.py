"""The migrations build the schema that metadata/schema.py declares, on
SQLite and on PostgreSQL: a table, column or index added to one and not the
other fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.services import Postgres
from vitrina.backends.metadata import migrate
from vitrina.backends.metadata.engine import create_engine
from vitrina.backends.metadata.schema import metadata


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            found: list[object] = compare_metadata(MigrationContext.configure(conn), metadata)
        return found
    finally:
        engine.dispose()


def test_the_migrations_build_the_declared_schema_on_sqlite(tmp_path: Path) -> None:
    assert _differences(f"sqlite:///{tmp_path / 'm.db'}") == []


@pytest.mark.slow
def test_the_migrations_build_the_declared_schema_on_postgres(postgres: Postgres) -> None:
    with postgres.database() as url:
        assert _differences(url) == []
