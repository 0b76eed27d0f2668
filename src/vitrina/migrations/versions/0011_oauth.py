"""OAuth install: authorization codes, the code a token was issued from, and
when an app was installed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("grant_code", sa.String(64)))
        batch.create_index("ix_tokens_grant_code", ["grant_code"])
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("installed_at", sa.DateTime(timezone=True)))
    # an app made before installs existed was made in its store, by its
    # owner: installed there when it was created (as apps made now are)
    op.execute("UPDATE apps SET installed_at = created_at WHERE deleted_at IS NULL")
    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.Integer, nullable=False, index=True),
        sa.Column(
            "store_id", sa.Integer, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("scopes", sa.String(400), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("oauth_codes")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("installed_at")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_grant_code")
        batch.drop_column("grant_code")
