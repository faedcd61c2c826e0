"""The joint record's tables: WHO-5 checks and caregivers' questions to peers
(core/appdb/joint_record.py).

Revision ID: record01
Revises: agreements01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "record01"
down_revision: str | None = "agreements01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "who5_checks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("raw", sa.Integer, nullable=False),
        sa.Column("taken_by", sa.String(128), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_who5_checks_patient_id", "who5_checks", ["patient_id"])
    op.create_table(
        "caregiver_questions",
        sa.Column("question_id", sa.String(64), sa.ForeignKey("peer_questions.id"),
                  primary_key=True),
        sa.Column("caregiver_id", sa.String(128), nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_caregiver_questions_caregiver_id", "caregiver_questions",
                    ["caregiver_id"])
    op.create_index("ix_caregiver_questions_patient_id", "caregiver_questions", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_caregiver_questions_patient_id", table_name="caregiver_questions")
    op.drop_index("ix_caregiver_questions_caregiver_id", table_name="caregiver_questions")
    op.drop_table("caregiver_questions")
    op.drop_index("ix_who5_checks_patient_id", table_name="who5_checks")
    op.drop_table("who5_checks")
