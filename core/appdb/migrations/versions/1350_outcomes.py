"""Outcomes that matter to the person and her ratings of them (core/appdb/outcomes.py).

Revision ID: outcomes01
Revises: weightunits01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "outcomes01"
down_revision: str | None = "weightunits01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "personal_outcomes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("text", sa.String(120), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_personal_outcomes_patient_id", "personal_outcomes", ["patient_id"])
    op.create_table(
        "outcome_ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outcome_id", sa.String(32), sa.ForeignKey("personal_outcomes.id"),
                  nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outcome_ratings_outcome_id", "outcome_ratings", ["outcome_id"])


def downgrade() -> None:
    op.drop_index("ix_outcome_ratings_outcome_id", table_name="outcome_ratings")
    op.drop_table("outcome_ratings")
    op.drop_index("ix_personal_outcomes_patient_id", table_name="personal_outcomes")
    op.drop_table("personal_outcomes")
