"""Dashboard: each patient's alarm sound for urgent safety alerts.

Model in core/appdb/alarms.py (AlarmPreference).

Revision ID: alarms01
Revises: boards01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "alarms01"
down_revision: str | None = "boards01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_preferences",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("urgent_low", sa.String(16), nullable=False),
        sa.Column("other_urgent", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarm_preferences")
