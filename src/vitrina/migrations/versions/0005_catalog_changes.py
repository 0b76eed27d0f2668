"""categories.version and catalog_deletions: read caches patch their copy of
a store with what changed instead of reloading it; an index for the next
orderBy among siblings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("categories") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    op.drop_index("ix_categories_store_parent", "categories")
    op.create_index(
        "ix_categories_store_parent_order", "categories", ["store_id", "parent_id", "order_by"]
    )
    op.create_index("ix_categories_store_version", "categories", ["store_id", "version"])
    op.create_table(
        "catalog_deletions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("category_id", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_catalog_deletions_store_version", "catalog_deletions", ["store_id", "version"]
    )


def downgrade() -> None:
    op.drop_index("ix_catalog_deletions_store_version", "catalog_deletions")
    op.drop_table("catalog_deletions")
    op.drop_index("ix_categories_store_version", "categories")
    op.drop_index("ix_categories_store_parent_order", "categories")
    op.create_index("ix_categories_store_parent", "categories", ["store_id", "parent_id"])
    with op.batch_alter_table("categories") as batch:
        batch.drop_column("version")
