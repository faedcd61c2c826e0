"""Home displays paired by a one-time code (core/appdb/displays.py).

Revision ID: display01
Revises: lang01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "display01"
down_revision: str | None = "lang01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "display_pairing_codes",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_display_pairing_codes_patient_id", "display_pairing_codes",
                    ["patient_id"])
    op.create_table(
        "home_displays",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("paired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_home_displays_patient_id", "home_displays", ["patient_id"])
    op.create_index("ix_home_displays_token_digest", "home_displays", ["token_digest"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_home_displays_token_digest", table_name="home_displays")
    op.drop_index("ix_home_displays_patient_id", table_name="home_displays")
    op.drop_table("home_displays")
    op.drop_index("ix_display_pairing_codes_patient_id", table_name="display_pairing_codes")
    op.drop_table("display_pairing_codes")
