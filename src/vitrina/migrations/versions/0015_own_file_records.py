"""every upload has file records of its own, under its own ids; a record
may name the file whose bytes it shows (``files.blob_id``): identical
uploads keep their own URLs and store their bytes once

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COLUMNS = "store_id, role, ext, content_type, width, height, size, etag, source"


def upgrade() -> None:
    op.add_column("files", sa.Column("blob_id", sa.BigInteger))
    op.create_index("ix_files_blob_id", "files", ["blob_id"])
    # An image that showed an earlier upload's files gets records of its
    # own, under the ids allocated for it (its id is its thumbnail's, the
    # others around it in role order), over those files' bytes.
    op.execute(
        f"INSERT INTO files (id, image_id, blob_id, {_COLUMNS}) "  # noqa: S608 -- fixed names
        "SELECT images.id + CASE files.role WHEN 'original' THEN -1 WHEN 'hd' THEN 1 "
        "WHEN 'image' THEN 2 ELSE 0 END, images.id, files.id, "
        + ", ".join(f"files.{c.strip()}" for c in _COLUMNS.split(","))
        + " FROM images JOIN files ON files.image_id = images.files_id"
        " WHERE images.files_id <> images.id"
    )
    # The records of uploads whose image is gone, kept while another image
    # showed their files: those bytes are now named by the new records.
    op.execute(
        "DELETE FROM files WHERE NOT EXISTS (SELECT 1 FROM images WHERE images.id = files.image_id)"
    )
    op.drop_index("ix_images_files_id", table_name="images")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("files_id")


def downgrade() -> None:
    shared = (
        op.get_bind()
        .exec_driver_sql("SELECT count(*) FROM files WHERE blob_id IS NOT NULL")
        .scalar()
    )
    if shared:
        raise RuntimeError(
            f"{shared} file records show another file's bytes, which revision 0014 cannot "
            "express: this database cannot go back to it"
        )
    op.add_column("images", sa.Column("files_id", sa.BigInteger))
    op.create_index("ix_images_files_id", "images", ["files_id"])
    op.execute(
        "UPDATE images SET files_id = id "
        "WHERE EXISTS (SELECT 1 FROM files WHERE files.image_id = images.id)"
    )
    op.drop_index("ix_files_blob_id", table_name="files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("blob_id")
