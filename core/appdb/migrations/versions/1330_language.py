"""Each person's language (and locale) for pages and messages: user_preferences.locale
(core/appdb/reviews.py UserPreference; core/i18n.py chooses from it).

Revision ID: lang01
Revises: stories01
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "lang01"
down_revision: str | None = "stories01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.add_column(sa.Column("locale", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_preferences") as batch:
        batch.drop_column("locale")
