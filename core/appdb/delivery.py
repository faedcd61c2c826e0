"""Delivery of nudges and alerts, and the coach's scheduled jobs (tables).

- ``notification_channels``: how each person wants to be reached, in order of
  preference (channel name, apprise URL or address for e-mail/SMS/webhook).
- ``deliveries``: one row per message per channel tried, with its status; the
  unique key makes a re-delivered message (after a restart) a no-op.
- ``inbox_messages``: the in-app inbox the dashboard reads.
- ``coach_job_runs``: the run lease of the scheduler. Each coach process
  inserts (job id, scheduled run time) before running a job; the primary key
  lets the first insert win, so two processes never run the same run twice.
  A sharded run (the trend checks) also has one row per shard, claimed with a
  compare-and-set update and held by a renewed lease (``lease_until``).
- ``apscheduler_jobs``: APScheduler 3's SQLAlchemyJobStore table, declared here
  with exactly the columns APScheduler gives it so that migrations create it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base

APSCHEDULER_TABLE = "apscheduler_jobs"


def _now() -> datetime:
    return datetime.now(UTC)


class ChannelPreference(Base):
    __tablename__ = "notification_channels"

    recipient_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    # apprise URL (mailto://, json://, an SMS service URL) or None for built-in channels.
    target: Mapped[str | None] = mapped_column(Text, default=None)
    rank: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("ref", "kind", "recipient_key", "channel", name="uq_deliveries_once"),
        Index("ix_deliveries_patient_created", "patient_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[str] = mapped_column(String(128))
    recipient_role: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(128))  # recipient id, or the patient's
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The message itself (Outbound.to_dict()), kept while the row is pending so that a
    # claim whose process died before sending can be re-queued (coach/recovery.py).
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_recipient_created", "recipient_key", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient_key: Mapped[str] = mapped_column(String(128))
    recipient_role: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    flag_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ref: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class JobRun(Base):
    __tablename__ = "coach_job_runs"

    job_id: Mapped[str] = mapped_column(String(191), primary_key=True)
    run_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # running, done, failed; a shard of a sharded run (job id "<job>#<k>/<n>"): open
    # (nobody has it yet), running, done, failed
    status: Mapped[str] = mapped_column(String(16), default="running")
    # A shard's lease: its owner renews it while working; once it has passed, another
    # process may take the shard over (its owner is taken to be dead).
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SchedulerJob(Base):
    """APScheduler's own table (apscheduler/jobstores/sqlalchemy.py, 3.11): same columns."""

    __tablename__ = APSCHEDULER_TABLE

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
