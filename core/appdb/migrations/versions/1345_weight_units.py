"""Each person's weight units (kg or lb) beside their glucose units: user_preferences.
weight_units (core/appdb/reviews.py UserPreference; dashboard/views/units.py shows weights
in them). NULL reads as kg.

Revision ID: weightunits01
Revises: display01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "weightunits01"
down_revision: str | None = "display01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.add_column(sa.Column("weight_units", sa.String(4), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.drop_column("weight_units")
