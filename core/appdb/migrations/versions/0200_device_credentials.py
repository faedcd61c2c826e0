"""Device credentials: MQTT accounts, gateway links, Nightscout uploaders.

The tables of core/appdb/credentials.py.

Revision ID: credentials01
Revises: plans01
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "credentials01"
down_revision: str | None = "plans01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mqtt_accounts",
        sa.Column("device_id", sa.String(128), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "gateway_links",
        sa.Column("device_id", sa.String(128), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("gateway_id", sa.String(128), sa.ForeignKey("devices.id"), nullable=False),
    )
    op.create_index("ix_gateway_links_gateway_id", "gateway_links", ["gateway_id"])
    op.create_table(
        "nightscout_uploaders",
        sa.Column("device_id", sa.String(128), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_nightscout_uploaders_secret_digest", "nightscout_uploaders",
                    ["secret_digest"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_nightscout_uploaders_secret_digest", table_name="nightscout_uploaders")
    op.drop_table("nightscout_uploaders")
    op.drop_index("ix_gateway_links_gateway_id", table_name="gateway_links")
    op.drop_table("gateway_links")
    op.drop_table("mqtt_accounts")
