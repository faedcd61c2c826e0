"""Care loop: goal change history, goals offered as a choice, the plan's suggested start.

Models in core/appdb/plans.py (issue 23): ``goal_changes`` (every step up or down,
edit, pause, resume and retirement, with who and why), ``goals.option_group`` (goals
offered as alternatives; the patient picks one), ``plans.suggested_focus`` and
``plans.focus_reason`` (the self-assessment's starting point, and the coach's reason
when the plan starts elsewhere).

Revision ID: careloop01
Revises: alarms01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "careloop01"
down_revision: str | None = "alarms01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "goal_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("goal_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("old_target", sa.Float(), nullable=True),
        sa.Column("new_target", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["goal_id"], ["goals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_goal_changes_goal_id"), "goal_changes", ["goal_id"], unique=False)
    op.create_index(op.f("ix_goal_changes_patient_id"), "goal_changes", ["patient_id"],
                    unique=False)
    with op.batch_alter_table("goals") as batch:
        batch.add_column(sa.Column("option_group", sa.String(length=64), nullable=True))
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("suggested_focus", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("focus_reason", sa.Text(), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("focus_reason")
        batch.drop_column("suggested_focus")
    with op.batch_alter_table("goals") as batch:
        batch.drop_column("option_group")
    op.drop_index(op.f("ix_goal_changes_patient_id"), table_name="goal_changes")
    op.drop_index(op.f("ix_goal_changes_goal_id"), table_name="goal_changes")
    op.drop_table("goal_changes")
