"""signin_codes and tokens.expires_at: the console's single-use sign-in codes
and the session tokens they are exchanged for

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.create_table(
        "signin_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column(
            "store_id",
            sa.Integer,
            sa.ForeignKey("stores.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("token_id", sa.Integer),
    )
    op.create_index("ix_signin_codes_expires_at", "signin_codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_codes_expires_at", "signin_codes")
    op.drop_table("signin_codes")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
