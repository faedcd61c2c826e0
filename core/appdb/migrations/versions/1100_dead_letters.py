"""Ingest: kept dead letters (every refused message with its reason), for
`hearth dead-letters list|show|replay`.

Model in core/appdb/deadletters.py (DeadLetterRecord).

Revision ID: deadletters01
Revises: careloop01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "deadletters01"
down_revision: str | None = "careloop01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_encoding", sa.String(16), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("payload_truncated", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_outcome", sa.Text(), nullable=True),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_dead_letters_device_id", "dead_letters", ["device_id"])
    op.create_index("ix_dead_letters_last_received_at", "dead_letters", ["last_received_at"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_last_received_at", "dead_letters")
    op.drop_index("ix_dead_letters_device_id", "dead_letters")
    op.drop_table("dead_letters")
