"""Nightscout access tokens: read-only tokens for a patient's followers
(core/appdb/nightscout_tokens.py).

Revision ID: nstokens01
Revises: deadletters01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "nstokens01"
down_revision: str | None = "deadletters01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "nightscout_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_nightscout_tokens_patient_id", "nightscout_tokens", ["patient_id"])
    op.create_index("ix_nightscout_tokens_digest", "nightscout_tokens", ["digest"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_nightscout_tokens_digest", table_name="nightscout_tokens")
    op.drop_index("ix_nightscout_tokens_patient_id", table_name="nightscout_tokens")
    op.drop_table("nightscout_tokens")
