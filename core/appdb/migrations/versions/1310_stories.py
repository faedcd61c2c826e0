"""Lived-experience stories and questions to peers (core/appdb/stories.py, issue 21).

Revision ID: stories01
Revises: engage01
Create Date: 2026-12-07

The full-text search tables (SQLite's FTS5 table, PostgreSQL's tsvector table with
its GIN index, both named story_search) are derived data that the search adapters of
core/appdb/stories.py create when first needed, outside the models Alembic compares;
downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "stories01"
down_revision: str | None = "engage01"
branch_labels: str | None = None
depends_on: str | None = None

def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("author_patient_id", sa.String(128), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("situations", sa.JSON(), nullable=False),
        sa.Column("goals", sa.JSON(), nullable=False),
        sa.Column("naming", sa.String(16), nullable=False),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("moderated_by", sa.String(128), nullable=True),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("moderation_reason", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stories_author_id", "stories", ["author_id"])
    op.create_index("ix_stories_author_patient_id", "stories", ["author_patient_id"])
    op.create_table(
        "story_moderation_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("moderator_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_story_moderation_events_story_id", "story_moderation_events",
                    ["story_id"])
    op.create_table(
        "story_marks",
        sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), primary_key=True),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "peer_questions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("asker_id", sa.String(128), nullable=False),
        sa.Column("asker_patient_id", sa.String(128), nullable=False),
        sa.Column("condition", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("naming", sa.String(16), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_peer_questions_asker_id", "peer_questions", ["asker_id"])
    op.create_index("ix_peer_questions_asker_patient_id", "peer_questions", ["asker_patient_id"])
    op.create_index("ix_peer_questions_condition", "peer_questions", ["condition"])
    op.create_table(
        "peer_answers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("question_id", sa.String(64), sa.ForeignKey("peer_questions.id"),
                  nullable=False),
        sa.Column("author_id", sa.String(128), nullable=False),
        sa.Column("author_patient_id", sa.String(128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("naming", sa.String(16), nullable=False),
        sa.Column("unsafe_by", sa.String(128), nullable=True),
        sa.Column("unsafe_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsafe_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_peer_answers_question_id", "peer_answers", ["question_id"])
    op.create_index("ix_peer_answers_created_at", "peer_answers", ["created_at"])


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS story_search")  # the search index, if it was made
    op.drop_index("ix_peer_answers_created_at", table_name="peer_answers")
    op.drop_index("ix_peer_answers_question_id", table_name="peer_answers")
    op.drop_table("peer_answers")
    op.drop_index("ix_peer_questions_condition", table_name="peer_questions")
    op.drop_index("ix_peer_questions_asker_patient_id", table_name="peer_questions")
    op.drop_index("ix_peer_questions_asker_id", table_name="peer_questions")
    op.drop_table("peer_questions")
    op.drop_table("story_marks")
    op.drop_index("ix_story_moderation_events_story_id", table_name="story_moderation_events")
    op.drop_table("story_moderation_events")
    op.drop_index("ix_stories_author_patient_id", table_name="stories")
    op.drop_index("ix_stories_author_id", table_name="stories")
    op.drop_table("stories")
