"""Nightscout documents' revisions: server times, edits, deletions, profiles and food
(core/appdb/nightscout_documents.py).

Revision ID: nsdocs01
Revises: record01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "nsdocs01"
down_revision: str | None = "record01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "nightscout_revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id"), nullable=False),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("identifier", sa.String(128), nullable=False),
        sa.Column("v1_id", sa.String(64), nullable=True),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("srv_created", sa.BigInteger, nullable=False),
        sa.Column("srv_modified", sa.BigInteger, nullable=False),
        sa.Column("is_valid", sa.Boolean, nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("document", sa.Text, nullable=True),
        sa.Column("reading_keys", sa.Text, nullable=True),
    )
    op.create_index("ix_nightscout_revisions_identity", "nightscout_revisions",
                    ["patient_id", "collection", "identifier"])
    op.create_index("ix_nightscout_revisions_changed", "nightscout_revisions",
                    ["patient_id", "collection", "srv_modified"])
    op.create_index("ix_nightscout_revisions_v1", "nightscout_revisions",
                    ["patient_id", "collection", "v1_id"])


def downgrade() -> None:
    for name in ("v1", "changed", "identity"):
        op.drop_index(f"ix_nightscout_revisions_{name}", table_name="nightscout_revisions")
    op.drop_table("nightscout_revisions")
