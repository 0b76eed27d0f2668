"""webhooks: the outbox rows a write adds cost fewer index pages

A pending delivery no longer enters the lease index (dropped: the few rows
in flight are found through the queue index) nor the finished one (now
partial, on the finished rows only), and an event's random UUID no longer
has a unique index (nothing looks an event up by it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FINISHED = sa.text("state IN ('delivered', 'failed')")


def _events(unique: bool) -> sa.Table:
    """webhook_events as SQLite rebuilds it (its unique constraint has no name to drop)."""
    return sa.Table(
        "webhook_events",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=unique),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    op.drop_index("ix_webhook_deliveries_lease", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_finished", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_finished",
        "webhook_deliveries",
        ["state", "updated_at"],
        sqlite_where=FINISHED,
        postgresql_where=FINISHED,
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "webhook_events", copy_from=_events(unique=False), recreate="always"
        ):
            pass
    else:
        op.drop_constraint("webhook_events_event_id_key", "webhook_events", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "webhook_events", copy_from=_events(unique=True), recreate="always"
        ):
            pass
    else:
        op.create_unique_constraint("webhook_events_event_id_key", "webhook_events", ["event_id"])
    op.drop_index("ix_webhook_deliveries_finished", table_name="webhook_deliveries")
    op.create_index("ix_webhook_deliveries_finished", "webhook_deliveries", ["state", "updated_at"])
    op.create_index("ix_webhook_deliveries_lease", "webhook_deliveries", ["state", "lease_until"])
