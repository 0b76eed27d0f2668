"""apps (and the app a token was issued to), and the webhook outbox:
events, deliveries and their attempts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("app_id", sa.Integer))
        batch.create_index("ix_tokens_app_id", ["app_id"])
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "store_id",
            sa.Integer,
            sa.ForeignKey("stores.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("client_secret", sa.String(128), nullable=False),
        sa.Column("scopes", sa.String(400), nullable=False),
        sa.Column("webhook_url", sa.Text, nullable=False, server_default=""),
        sa.Column("events", sa.String(400), nullable=False, server_default=""),
        sa.Column("redirect_uri", sa.Text, nullable=False, server_default=""),
        sa.Column("iframe_url", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),  # gone, but for its uninstall event
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("entity_id", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("event", sa.BigInteger, nullable=False),
        sa.Column("app_id", sa.Integer, nullable=False),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("worker", sa.String(100)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_webhook_deliveries_queue", "webhook_deliveries", ["state", "app_id", "due_at", "id"]
    )
    op.create_index("ix_webhook_deliveries_lease", "webhook_deliveries", ["state", "lease_until"])
    op.create_index("ix_webhook_deliveries_app", "webhook_deliveries", ["app_id", "id"])
    op.create_index("ix_webhook_deliveries_finished", "webhook_deliveries", ["state", "updated_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("delivery", sa.BigInteger, nullable=False, index=True),
        sa.Column("app_id", sa.Integer, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("response", sa.Text, nullable=False, server_default=""),
        sa.Column("request_headers", sa.JSON, nullable=False),
        sa.Column("request_body", sa.Text, nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True)),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_attempts_app", "webhook_attempts", ["app_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("apps")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_app_id")
        batch.drop_column("app_id")
