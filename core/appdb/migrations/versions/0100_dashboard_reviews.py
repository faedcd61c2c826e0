"""Dashboard state: user display preferences and patient reviews (core/appdb/reviews.py).

Revision ID: dashboard01
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "dashboard01"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("glucose_units", sa.String(8), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "patient_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("reviewer_id", sa.String(128), nullable=False),
        sa.Column("reviewer_name", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_patient_reviews_patient_id", "patient_reviews", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_patient_reviews_patient_id", table_name="patient_reviews")
    op.drop_table("patient_reviews")
    op.drop_table("user_preferences")
