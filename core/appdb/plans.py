"""Plans and goals, self-assessments and peer groups (issue 5, items 4-6).

User ids (patients, coaches) are plain strings: accounts live in their own
module and these tables keep no foreign key to them, so either side can change
without the other. Logic lives in care/plans.py, care/selfassessment.py and
care/groups.py; these are only the tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base, _now

UTC_DATETIME = DateTime(timezone=True)


# --- Plans, goals, progress, joint achievements ------------------------------------------


class Plan(Base):
    """A person-centred plan, agreed by the patient and their coach."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    coach_id: Mapped[str | None] = mapped_column(String(128), default=None)
    focus: Mapped[str] = mapped_column(String(40))  # one of the seven self-care behaviours
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft|agreed|closed
    note: Mapped[str] = mapped_column(Text, default="")
    assessment_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The self-assessment's suggested starting point, and the coach's reason when the plan
    # starts elsewhere (recorded: the patient sees why).
    suggested_focus: Mapped[str | None] = mapped_column(String(40), default=None)
    focus_reason: Mapped[str] = mapped_column(Text, default="")
    patient_agreed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    coach_agreed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    closed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)


class Goal(Base):
    """One incremental goal: what, how much, over which period, and who does what."""

    __tablename__ = "goals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    behaviour: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))  # how progress is measured (care/goals.py)
    metric: Mapped[str | None] = mapped_column(String(40), default=None)
    target: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40))
    period_days: Mapped[int] = mapped_column(Integer, default=7)
    days_required: Mapped[int | None] = mapped_column(Integer, default=None)
    step: Mapped[float] = mapped_column(Float)  # how much one step up or down changes target
    target_min: Mapped[float] = mapped_column(Float)
    target_max: Mapped[float] = mapped_column(Float)
    baseline: Mapped[float | None] = mapped_column(Float, default=None)
    level: Mapped[int] = mapped_column(Integer, default=1)
    # offered (one of a choice, until the patient picks) | declined (not picked) | proposed |
    # active | paused | retired | stopped (its plan closed) | done
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    # Goals offered as alternatives for one behaviour share an option group; the patient
    # picks one of them (care.plans.pick_option).
    option_group: Mapped[str | None] = mapped_column(String(64), default=None)
    misses_in_row: Mapped[int] = mapped_column(Integer, default=0)
    patient_part: Mapped[str] = mapped_column(Text)
    professional_part: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date | None] = mapped_column(Date, default=None)  # patient's local date
    evaluated_periods: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class GoalProgress(Base):
    """A snapshot of one finished period of a goal, computed from the readings."""

    __tablename__ = "goal_progress"
    __table_args__ = (UniqueConstraint("goal_id", "period_index", name="uq_goal_progress_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    goal_id: Mapped[str] = mapped_column(ForeignKey("goals.id"), index=True)
    period_index: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime] = mapped_column(UTC_DATETIME)
    period_end: Mapped[datetime] = mapped_column(UTC_DATETIME)
    target: Mapped[float] = mapped_column(Float)
    achieved: Mapped[float] = mapped_column(Float)
    met: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(20))  # met|missed|stepped_up|stepped_down|kept
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class Achievement(Base):
    """The joint record: what the patient achieved, seen and confirmed by both sides."""

    __tablename__ = "achievements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    goal_id: Mapped[str | None] = mapped_column(ForeignKey("goals.id"), default=None)
    kind: Mapped[str] = mapped_column(String(20))  # goal_met|stepped_up|kept_up|agreed|note
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    achieved_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    recorded_by: Mapped[str] = mapped_column(String(128))  # a user id or "system"
    patient_note: Mapped[str] = mapped_column(Text, default="")
    coach_note: Mapped[str] = mapped_column(Text, default="")
    patient_confirmed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    coach_confirmed_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)


class GoalChange(Base):
    """The history of one goal: every step up or down, edit, pause, resume and retirement,
    with who did it and why, in the plain words the patient is shown."""

    __tablename__ = "goal_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    goal_id: Mapped[str] = mapped_column(ForeignKey("goals.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    by: Mapped[str] = mapped_column(String(128))  # a user id or "system"
    role: Mapped[str] = mapped_column(String(20))  # patient|coach|system
    # added|picked|edited|paused|resumed|retired|stepped_up|kept_up|missed|stepped_down|kept
    change: Mapped[str] = mapped_column(String(20))
    old_target: Mapped[float | None] = mapped_column(Float, default=None)
    new_target: Mapped[float | None] = mapped_column(Float, default=None)
    text: Mapped[str] = mapped_column(Text)  # what the patient reads: plain, positive words
    reason: Mapped[str] = mapped_column(Text, default="")  # the person's own reason, if any
    period_index: Mapped[int | None] = mapped_column(Integer, default=None)


# --- Self-assessment ---------------------------------------------------------------------


class SelfAssessment(Base):
    """One sitting of the card deck and the two-item distress screen (DDS2)."""

    __tablename__ = "self_assessments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
    taken_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
    recorded_by: Mapped[str] = mapped_column(String(128))
    dds2_overwhelmed: Mapped[int | None] = mapped_column(Integer, default=None)  # 1-6
    dds2_failing: Mapped[int | None] = mapped_column(Integer, default=None)  # 1-6
    dds2_mean: Mapped[float | None] = mapped_column(Float, default=None)
    distress: Mapped[bool] = mapped_column(Boolean, default=False)
    focus: Mapped[str] = mapped_column(String(40))  # where the plan starts
    focus_reason: Mapped[str] = mapped_column(Text, default="")


class SelfAssessmentItem(Base):
    """One card: a self-care behaviour, how it is going and the person's confidence."""

    __tablename__ = "self_assessment_items"

    assessment_id: Mapped[str] = mapped_column(ForeignKey("self_assessments.id"), primary_key=True)
    behaviour: Mapped[str] = mapped_column(String(40), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)  # 1-5: how it is going
    confidence: Mapped[int] = mapped_column(Integer)  # 0-10
    importance: Mapped[int | None] = mapped_column(Integer, default=None)  # 0-10, optional


# --- Peer groups -------------------------------------------------------------------------


class PeerPreference(Base):
    """What a person wants from peer groups: the language they talk in, and whether to join."""

    __tablename__ = "peer_preferences"

    patient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    open_to_groups: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class PeerGroup(Base):
    __tablename__ = "peer_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    coach_id: Mapped[str] = mapped_column(String(128), index=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    reason: Mapped[str] = mapped_column(Text, default="")  # why these people (from the suggestion)
    challenge_kind: Mapped[str | None] = mapped_column(String(40), default=None)
    challenge_target: Mapped[float | None] = mapped_column(Float, default=None)  # per week
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|closed
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class PeerMembership(Base):
    __tablename__ = "peer_memberships"

    group_id: Mapped[str] = mapped_column(ForeignKey("peer_groups.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)
    left_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    removed_by: Mapped[str | None] = mapped_column(String(128), default=None)


class SharingConsent(Base):
    """What a member chose to share with their group; the newest row per scope counts.

    Rows are appended, never changed: the history of choices is the consent record.
    """

    __tablename__ = "sharing_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("peer_groups.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    scope: Mapped[str] = mapped_column(String(40))  # name|achievements|challenge|post
    ref: Mapped[str | None] = mapped_column(String(64), default=None)  # e.g. the post id
    granted: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class PeerPost(Base):
    __tablename__ = "peer_posts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("peer_groups.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(String(64), default=None)
    prompt_id: Mapped[str | None] = mapped_column(String(64), default=None)  # answering a prompt
    state: Mapped[str] = mapped_column(String(20), default="visible")  # visible|hidden|withdrawn
    moderated_by: Mapped[str | None] = mapped_column(String(128), default=None)
    moderation_reason: Mapped[str | None] = mapped_column(Text, default=None)
    moderated_at: Mapped[datetime | None] = mapped_column(UTC_DATETIME, default=None)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class ModerationEvent(Base):
    """Every hide and unhide, with who did it and why."""

    __tablename__ = "peer_moderation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("peer_posts.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # hide|unhide
    moderator_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTC_DATETIME)


class CoachPrompt(Base):
    """A scheduled prompt issued once (weekly group prompts, monthly reminders).

    ``key`` makes each prompt once-only: a job that runs twice issues nothing new.
    Its id is the ``ref`` of the Outbound message that carries it.
    """

    __tablename__ = "coach_prompts"
    __table_args__ = (UniqueConstraint("key", name="uq_coach_prompts_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    patient_id: Mapped[str | None] = mapped_column(String(128), index=True, default=None)
    group_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTC_DATETIME)
