"""Accounts and access: users, clinics, care teams, caregiver shares, sessions,
login attempts and the audit log (core/appdb/accounts.py).

Revision ID: accounts01
Revises: coaching01
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "accounts01"
down_revision: str | None = "coaching01"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clinics",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "clinic_patients",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("clinic_id", sa.String(64), sa.ForeignKey("clinics.id"), nullable=False),
    )
    op.create_index("ix_clinic_patients_clinic_id", "clinic_patients", ["clinic_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=True,
                  unique=True),
        sa.Column("clinic_id", sa.String(64), sa.ForeignKey("clinics.id"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "care_teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("clinic_id", sa.String(64), sa.ForeignKey("clinics.id"), nullable=True),
    )
    op.create_table(
        "care_team_members",
        sa.Column("team_id", sa.String(64), sa.ForeignKey("care_teams.id"), primary_key=True),
        sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_index("ix_care_team_members_user_id", "care_team_members", ["user_id"])
    op.create_table(
        "care_team_patients",
        sa.Column("team_id", sa.String(64), sa.ForeignKey("care_teams.id"), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
    )
    op.create_index("ix_care_team_patients_patient_id", "care_team_patients", ["patient_id"])
    op.create_table(
        "caregiver_shares",
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), primary_key=True),
        sa.Column("caregiver_id", sa.String(128), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("urgent_alerts", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_caregiver_shares_caregiver_id", "caregiver_shares", ["caregiver_id"])
    op.create_table(
        "login_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
    )
    for column in ("user_id", "address", "at"):
        op.create_index(f"ix_login_attempts_{column}", "login_attempts", [column])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
    )
    for column in ("at", "actor_id", "patient_id"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("login_attempts")
    op.drop_table("login_sessions")
    op.drop_table("caregiver_shares")
    op.drop_table("care_team_patients")
    op.drop_table("care_team_members")
    op.drop_table("care_teams")
    op.drop_table("users")
    op.drop_table("clinic_patients")
    op.drop_table("clinics")
