"""Coach: shard leases for the scheduled cycle, and the message of a pending delivery.

Models in core/appdb/delivery.py (JobRun.lease_until, Delivery.message).

Revision ID: coachlease01
Revises: accounts01
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "coachlease01"
down_revision: str | None = "accounts01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("coach_job_runs") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_coach_job_runs_status", "coach_job_runs", ["status"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("message", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("message")
    op.drop_index("ix_coach_job_runs_status", table_name="coach_job_runs")
    with op.batch_alter_table("coach_job_runs") as batch:
        batch.drop_column("lease_until")
