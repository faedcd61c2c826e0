"""Dashboard: triage boards shared by the server processes.

Model in core/appdb/reviews.py (TriageBoardRecord).

Revision ID: boards01
Revises: coachlease01
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "boards01"
down_revision: str | None = "coachlease01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "triage_boards",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("triage_boards")
