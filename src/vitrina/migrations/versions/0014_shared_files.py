"""images show files that identical uploads share: each image names the
upload whose files it shows, and files remember what they were made from

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("images", sa.Column("files_id", sa.BigInteger))
    op.create_index("ix_images_files_id", "images", ["files_id"])
    # every image made so far shows its own files (a pending one has none)
    op.execute(
        "UPDATE images SET files_id = id "
        "WHERE EXISTS (SELECT 1 FROM files WHERE files.image_id = images.id)"
    )
    op.add_column("files", sa.Column("source", sa.String(64)))
    op.create_index("ix_files_store_source", "files", ["store_id", "source"])


def downgrade() -> None:
    op.drop_index("ix_files_store_source", table_name="files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("source")
    op.drop_index("ix_images_files_id", table_name="images")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("files_id")
