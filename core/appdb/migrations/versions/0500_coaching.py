"""Coaching: flags, nudges, alerts, escalation steps, preferences, cool-downs
(core/appdb/coaching.py).

Revision ID: coaching01
Revises: credentials01
Create Date: 2026-11-23
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "coaching01"
down_revision: str | None = "credentials01"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "coaching_preferences",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("quiet_start", sa.String(5), nullable=False),
        sa.Column("quiet_end", sa.String(5), nullable=False),
        sa.Column("daily_budget", sa.Integer(), nullable=False),
        sa.Column("rule_tuning", sa.JSON(), nullable=False),
        sa.Column("caregiver_id", sa.String(128), nullable=True),
        sa.Column("coach_id", sa.String(128), nullable=True),
        sa.Column("nurse_id", sa.String(128), nullable=True),
        sa.Column("escalation_minutes", sa.JSON(), nullable=False),
        _when("updated_at"),
    )
    op.create_table(
        "coach_flags",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("flag_type", sa.String(64), nullable=False),
        sa.Column("flag_group", sa.String(128), nullable=False),
        sa.Column("flag_key", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("path", sa.String(16), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_coach_flags_patient_created", "coach_flags", ["patient_id", "created_at"])
    op.create_table(
        "coach_nudges",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("flag_id", sa.String(32), sa.ForeignKey("coach_flags.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("flag_type", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts_to_budget", sa.Boolean(), nullable=False),
        sa.Column("digest_id", sa.String(32), nullable=True),
        _when("created_at"),
        _when("sent_at", nullable=True),
        sa.Column("feedback", sa.String(16), nullable=True),
        _when("feedback_at", nullable=True),
    )
    op.create_index("ix_coach_nudges_patient_status", "coach_nudges", ["patient_id", "status"])
    op.create_index("ix_coach_nudges_patient_created", "coach_nudges",
                    ["patient_id", "created_at"])
    op.create_table(
        "coach_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("flag_id", sa.String(32), sa.ForeignKey("coach_flags.id"), nullable=True),
        sa.Column("flag_type", sa.String(64), nullable=False),
        sa.Column("flag_group", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _when("created_at"),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        _when("acknowledged_at", nullable=True),
        _when("snoozed_until", nullable=True),
        _when("resolved_at", nullable=True),
        sa.Column("ladder", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        _when("next_step_at", nullable=True),
    )
    op.create_index("ix_coach_alerts_state", "coach_alerts", ["state"])
    op.create_index("ix_coach_alerts_patient", "coach_alerts", ["patient_id"])
    op.create_table(
        "coach_escalation_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("coach_alerts.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("recipient_id", sa.String(128), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by_user", sa.String(128), nullable=True),
        _when("at"),
    )
    op.create_index("ix_coach_escalation_steps_alert_id", "coach_escalation_steps", ["alert_id"])
    op.create_table(
        "coach_cooldowns",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("flag_group", sa.String(128), primary_key=True),
        sa.Column("last_key", sa.String(128), nullable=False),
        sa.Column("last_level", sa.Integer(), nullable=False),
        _when("last_sent_at"),
    )


def downgrade() -> None:
    op.drop_table("coach_cooldowns")
    op.drop_index("ix_coach_escalation_steps_alert_id", table_name="coach_escalation_steps")
    op.drop_table("coach_escalation_steps")
    op.drop_index("ix_coach_alerts_patient", table_name="coach_alerts")
    op.drop_index("ix_coach_alerts_state", table_name="coach_alerts")
    op.drop_table("coach_alerts")
    op.drop_index("ix_coach_nudges_patient_created", table_name="coach_nudges")
    op.drop_index("ix_coach_nudges_patient_status", table_name="coach_nudges")
    op.drop_table("coach_nudges")
    op.drop_index("ix_coach_flags_patient_created", table_name="coach_flags")
    op.drop_table("coach_flags")
    op.drop_table("coaching_preferences")
