"""Plans and goals, goal progress, joint achievements, self-assessments, peer groups.

Revision ID: plans01
Revises: delivery01
Create Date: 2026-11-23

Tables of core/appdb/plans.py (issue 5, items 4-6). User ids are plain strings:
no foreign keys to the accounts tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "plans01"
down_revision: str | None = "delivery01"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('coach_prompts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=True),
    sa.Column('group_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_coach_prompts_key')
    )
    op.create_index('ix_coach_prompts_patient_id', 'coach_prompts', ['patient_id'])
    op.create_table('peer_groups',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('coach_id', sa.String(length=128), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('challenge_kind', sa.String(length=40), nullable=True),
    sa.Column('challenge_target', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_peer_groups_coach_id', 'peer_groups', ['coach_id'])
    op.create_table('peer_preferences',
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('open_to_groups', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('patient_id')
    )
    op.create_table('plans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('coach_id', sa.String(length=128), nullable=True),
    sa.Column('focus', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('assessment_id', sa.String(length=64), nullable=True),
    sa.Column('patient_agreed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('coach_agreed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_plans_patient_id', 'plans', ['patient_id'])
    op.create_table('self_assessments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('dds2_overwhelmed', sa.Integer(), nullable=True),
    sa.Column('dds2_failing', sa.Integer(), nullable=True),
    sa.Column('dds2_mean', sa.Float(), nullable=True),
    sa.Column('distress', sa.Boolean(), nullable=False),
    sa.Column('focus', sa.String(length=40), nullable=False),
    sa.Column('focus_reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_self_assessments_patient_id', 'self_assessments', ['patient_id'])
    op.create_table('goals',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('behaviour', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=True),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('period_days', sa.Integer(), nullable=False),
    sa.Column('days_required', sa.Integer(), nullable=True),
    sa.Column('step', sa.Float(), nullable=False),
    sa.Column('target_min', sa.Float(), nullable=False),
    sa.Column('target_max', sa.Float(), nullable=False),
    sa.Column('baseline', sa.Float(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('misses_in_row', sa.Integer(), nullable=False),
    sa.Column('patient_part', sa.Text(), nullable=False),
    sa.Column('professional_part', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('evaluated_periods', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_goals_patient_id', 'goals', ['patient_id'])
    op.create_index('ix_goals_plan_id', 'goals', ['plan_id'])
    op.create_table('peer_memberships',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=128), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['peer_groups.id'], ),
    sa.PrimaryKeyConstraint('group_id', 'member_id')
    )
    op.create_table('peer_posts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('author_id', sa.String(length=128), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('reply_to', sa.String(length=64), nullable=True),
    sa.Column('prompt_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('moderated_by', sa.String(length=128), nullable=True),
    sa.Column('moderation_reason', sa.Text(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['peer_groups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_peer_posts_group_id', 'peer_posts', ['group_id'])
    op.create_table('self_assessment_items',
    sa.Column('assessment_id', sa.String(length=64), nullable=False),
    sa.Column('behaviour', sa.String(length=40), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Integer(), nullable=False),
    sa.Column('importance', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assessment_id'], ['self_assessments.id'], ),
    sa.PrimaryKeyConstraint('assessment_id', 'behaviour')
    )
    op.create_table('sharing_consents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=128), nullable=False),
    sa.Column('scope', sa.String(length=40), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=True),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['peer_groups.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sharing_consents_group_id', 'sharing_consents', ['group_id'])
    op.create_index('ix_sharing_consents_member_id', 'sharing_consents', ['member_id'])
    op.create_table('achievements',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=128), nullable=False),
    sa.Column('goal_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('achieved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('patient_note', sa.Text(), nullable=False),
    sa.Column('coach_note', sa.Text(), nullable=False),
    sa.Column('patient_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('coach_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_achievements_patient_id', 'achievements', ['patient_id'])
    op.create_table('goal_progress',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('goal_id', sa.String(length=64), nullable=False),
    sa.Column('period_index', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('achieved', sa.Float(), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('goal_id', 'period_index', name='uq_goal_progress_period')
    )
    op.create_index('ix_goal_progress_goal_id', 'goal_progress', ['goal_id'])
    op.create_table('peer_moderation_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('moderator_id', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['peer_posts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_peer_moderation_events_post_id', 'peer_moderation_events', ['post_id'])


def downgrade() -> None:
    op.drop_index('ix_peer_moderation_events_post_id', table_name='peer_moderation_events')
    op.drop_table('peer_moderation_events')
    op.drop_index('ix_goal_progress_goal_id', table_name='goal_progress')
    op.drop_table('goal_progress')
    op.drop_index('ix_achievements_patient_id', table_name='achievements')
    op.drop_table('achievements')
    op.drop_index('ix_sharing_consents_group_id', table_name='sharing_consents')
    op.drop_index('ix_sharing_consents_member_id', table_name='sharing_consents')
    op.drop_table('sharing_consents')
    op.drop_table('self_assessment_items')
    op.drop_index('ix_peer_posts_group_id', table_name='peer_posts')
    op.drop_table('peer_posts')
    op.drop_table('peer_memberships')
    op.drop_index('ix_goals_patient_id', table_name='goals')
    op.drop_index('ix_goals_plan_id', table_name='goals')
    op.drop_table('goals')
    op.drop_index('ix_self_assessments_patient_id', table_name='self_assessments')
    op.drop_table('self_assessments')
    op.drop_index('ix_plans_patient_id', table_name='plans')
    op.drop_table('plans')
    op.drop_table('peer_preferences')
    op.drop_index('ix_peer_groups_coach_id', table_name='peer_groups')
    op.drop_table('peer_groups')
    op.drop_index('ix_coach_prompts_patient_id', table_name='coach_prompts')
    op.drop_table('coach_prompts')
