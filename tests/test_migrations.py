"""The migrations build the schema that metadata/schema.py declares, on
SQLite and on PostgreSQL: a table, column or index added to one and not the
other fails here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.conftest import migrated_to
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


def test_apps_made_before_installs_existed_are_installed_since_their_creation(
    tmp_path: Path,
) -> None:
    """0011 stamps the apps it finds installed when they were created (apps
    are made in their store, by its owner); a deleted app stays uninstalled."""
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrated_to(engine, "0010")
        made = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO stores (id, name, storefront_url, created_at) "
                    "VALUES (1, 'S', 'https://s.example', :at)"
                ),
                {"at": made},
            )
            for app_id, deleted in ((1, None), (2, made)):
                conn.execute(
                    sa.text(
                        "INSERT INTO apps (id, store_id, name, client_id, client_secret, scopes, "
                        "created_at, updated_at, deleted_at) VALUES "
                        "(:id, 1, 'A', :client, 'secret', '', :at, :at, :deleted)"
                    ),
                    {"id": app_id, "client": f"c{app_id}", "at": made, "deleted": deleted},
                )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, installed_at FROM apps ORDER BY id")).all()
        assert rows[0].installed_at is not None and rows[0].installed_at.startswith("2026-11-01")
        assert rows[1].installed_at is None
    finally:
        engine.dispose()


def test_the_lean_outbox_keeps_the_events_and_their_numbering(tmp_path: Path) -> None:
    """0013 rebuilds SQLite's events table (to drop its unnamed unique
    index): the events stay, with their deliveries, and new ones number on."""
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrated_to(engine, "0012")
        at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO webhook_events (id, event_id, store_id, entity_id, event_type, "
                    "created) VALUES (7, 'e7', 1, 3, 'category.updated', 1761998400)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO webhook_deliveries (event, app_id, store_id, state, due_at, "
                    "created_at, updated_at) VALUES (7, 1, 1, 'delivered', :at, :at, :at)"
                ),
                {"at": at},
            )
        migrate.upgrade(engine)
        with engine.begin() as conn:
            kept = conn.execute(sa.text("SELECT id, event_id FROM webhook_events")).all()
            made = conn.execute(
                sa.text(
                    "INSERT INTO webhook_events (event_id, store_id, entity_id, event_type, "
                    "created) VALUES ('e7', 1, 3, 'category.updated', 1761998401) RETURNING id"
                )
            ).scalar_one()
            joined = conn.execute(
                sa.text(
                    "SELECT e.event_id FROM webhook_deliveries d "
                    "JOIN webhook_events e ON e.id = d.event"
                )
            ).all()
        assert [tuple(r) for r in kept] == [(7, "e7")]
        assert made == 8
        assert [tuple(r) for r in joined] == [("e7",)]
    finally:
        engine.dispose()
