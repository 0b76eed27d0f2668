"""jobs: indexes for a claim that does not grow with the queue, for pruning
finished jobs, and for looking a job up by its image

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_jobs_state_run_at", table_name="jobs")
    op.create_index("ix_jobs_queue", "jobs", ["state", "store_id", "run_at", "id"])
    op.create_index("ix_jobs_lease", "jobs", ["state", "lease_until"])
    op.create_index("ix_jobs_finished", "jobs", ["state", "updated_at"])
    op.create_index("ix_jobs_image", "jobs", ["store_id", "image_id"])


def downgrade() -> None:
    for name in ("ix_jobs_image", "ix_jobs_finished", "ix_jobs_lease", "ix_jobs_queue"):
        op.drop_index(name, table_name="jobs")
    op.create_index("ix_jobs_state_run_at", "jobs", ["state", "run_at"])
