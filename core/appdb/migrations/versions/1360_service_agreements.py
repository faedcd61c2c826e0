"""The clinic's service agreement (and limits written with one patient), what was
measured against it, formal requests and one-tap ratings (core/appdb/agreements.py).

Revision ID: agreements01
Revises: outcomes01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "agreements01"
down_revision: str | None = "outcomes01"
branch_labels: str | None = None
depends_on: str | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_standards",
        sa.Column("clinic_id", sa.String(64), sa.ForeignKey("clinics.id"), primary_key=True),
        sa.Column("standard", sa.String(32), primary_key=True),
        sa.Column("limit_value", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_table(
        "patient_service_standards",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"),
                  primary_key=True),
        sa.Column("standard", sa.String(32), primary_key=True),
        sa.Column("limit_value", sa.Integer, nullable=False),
        sa.Column("agreed_by", sa.String(128), nullable=False),
        sa.Column("agreed_at", WHEN, nullable=False),
    )
    op.create_table(
        "service_measures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("standard", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(191), nullable=False),
        sa.Column("limit_value", sa.Integer, nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("done_at", WHEN, nullable=True),
        sa.Column("breached_at", WHEN, nullable=True),
        sa.Column("staff_seen_at", WHEN, nullable=True),
        sa.Column("staff_seen_by", sa.String(128), nullable=True),
        sa.UniqueConstraint("standard", "ref", name="uq_service_measures_case"),
    )
    op.create_index("ix_service_measures_clinic_started", "service_measures",
                    ["clinic_id", "started_at"])
    op.create_index("ix_service_measures_patient", "service_measures", ["patient_id"])
    op.create_table(
        "service_complaints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=False),
        sa.Column("measure_id", sa.Integer, sa.ForeignKey("service_measures.id"),
                  nullable=True),
        sa.Column("ask", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("publish", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("respond_by", WHEN, nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("responded_by", sa.String(128), nullable=True),
        sa.Column("responded_at", WHEN, nullable=True),
    )
    op.create_index("ix_service_complaints_patient_id", "service_complaints", ["patient_id"])
    op.create_index("ix_service_complaints_clinic_state", "service_complaints",
                    ["clinic_id", "state"])
    op.create_table(
        "interaction_ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("clinic_id", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("rating", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("publish", sa.Boolean, nullable=False),
        sa.Column("comment_state", sa.String(16), nullable=False),
        sa.Column("rated_at", WHEN, nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("responded_at", WHEN, nullable=True),
        sa.UniqueConstraint("patient_id", "kind", "ref", name="uq_interaction_ratings_once"),
    )
    op.create_index("ix_interaction_ratings_clinic_rated", "interaction_ratings",
                    ["clinic_id", "rated_at"])


def downgrade() -> None:
    op.drop_index("ix_interaction_ratings_clinic_rated", table_name="interaction_ratings")
    op.drop_table("interaction_ratings")
    op.drop_index("ix_service_complaints_clinic_state", table_name="service_complaints")
    op.drop_index("ix_service_complaints_patient_id", table_name="service_complaints")
    op.drop_table("service_complaints")
    op.drop_index("ix_service_measures_patient", table_name="service_measures")
    op.drop_index("ix_service_measures_clinic_started", table_name="service_measures")
    op.drop_table("service_measures")
    op.drop_table("patient_service_standards")
    op.drop_table("service_standards")
