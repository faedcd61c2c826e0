"""Engagement and outreach (issue 20): daily engagement states with their history, each
clinic's engagement thresholds, outreach tasks and contacts, and advocates
(core/appdb/engagement.py, core/appdb/outreach.py).

Revision ID: engage01
Revises: nstokens01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "engage01"
down_revision: str | None = "nstokens01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "engagement_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "day", name="uq_engagement_states_day"),
    )
    op.create_index("ix_engagement_states_patient_day", "engagement_states",
                    ["patient_id", "day"])
    op.create_table(
        "engagement_settings",
        sa.Column("clinic_id", sa.String(64), primary_key=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outreach_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("held_nudges", sa.Integer(), nullable=False),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_outreach_tasks_patient_state", "outreach_tasks", ["patient_id", "state"])
    op.create_table(
        "outreach_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(32), nullable=True),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("by_user", sa.String(128), nullable=False),
        sa.Column("by_name", sa.String(200), nullable=False),
        sa.Column("by_role", sa.String(16), nullable=False),
        sa.Column("contacted", sa.String(200), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("next_step", sa.Text(), nullable=False),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outreach_contacts_patient_at", "outreach_contacts", ["patient_id", "at"])
    op.create_table(
        "advocates",
        sa.Column("patient_id", sa.String(128), primary_key=True),
        sa.Column("advocate_id", sa.String(128), nullable=False),
        sa.Column("advocate_role", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("named_by", sa.String(128), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_advocates_advocate_id", "advocates", ["advocate_id"])


def downgrade() -> None:
    op.drop_index("ix_advocates_advocate_id", table_name="advocates")
    op.drop_table("advocates")
    op.drop_index("ix_outreach_contacts_patient_at", table_name="outreach_contacts")
    op.drop_table("outreach_contacts")
    op.drop_index("ix_outreach_tasks_patient_state", table_name="outreach_tasks")
    op.drop_table("outreach_tasks")
    op.drop_table("engagement_settings")
    op.drop_index("ix_engagement_states_patient_day", table_name="engagement_states")
    op.drop_table("engagement_states")
