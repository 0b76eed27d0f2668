"""stores.languages: the store's enabled languages, the first the default

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("languages", sa.Text(), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("languages")
