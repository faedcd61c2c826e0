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

from datetime import UTC, datetime, timedelta
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
    delete,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base

APSCHEDULER_TABLE = "apscheduler_jobs"
# How long a delivery claim may stay pending before it is taken for dead (its process
# crashed between the claim and the send). Longer than the longest send: attempts x
# timeout + backoff (3 x 10 s + ~2 s by default, coach/notify.py DeliveryPolicy).
CLAIM_LEASE = timedelta(minutes=5)


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
    # every coach process looks for open or abandoned shards at each poll
    __table_args__ = (Index("ix_coach_job_runs_status", "status"),)

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


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def channel_preferences(engine: Engine, recipient_id: str) -> list[tuple[str, str | None]]:
    """How a person is reached: (channel, target) of the enabled channels, preferred first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(ChannelPreference)
            .where(ChannelPreference.recipient_id == recipient_id, ChannelPreference.enabled)
            .order_by(ChannelPreference.rank, ChannelPreference.channel)
        ).all()
        return [(r.channel, r.target) for r in rows]


def replace_channel_preferences(engine: Engine, recipient_id: str,
                                channels: list[tuple[str, str | None]]) -> None:
    """Replace how one person is reached (the caller has checked the channels)."""
    with Session(engine) as session:
        session.execute(delete(ChannelPreference).where(
            ChannelPreference.recipient_id == recipient_id))
        for rank, (name, target) in enumerate(channels):
            session.add(ChannelPreference(recipient_id=recipient_id, channel=name,
                                          target=target, rank=rank, enabled=True))
        session.commit()


def claim(engine: Engine, row: Delivery) -> int | None:
    """Record a pending delivery (the claim to send it); its id, or None when this message
    was claimed for this recipient and channel before (sent, or a claim to take over)."""
    try:
        with Session(engine) as session:
            session.add(row)
            session.commit()
            return row.id
    except IntegrityError:
        return None


def earlier_status(engine: Engine, *, ref: str, kind: str, recipient_key: str,
                   channel: str) -> str | None:
    """The status of an earlier delivery of this message to this recipient and channel."""
    with Session(engine) as session:
        return session.scalar(select(Delivery.status).where(
            Delivery.ref == ref, Delivery.kind == kind,
            Delivery.recipient_key == recipient_key, Delivery.channel == channel))


def finish(engine: Engine, row_id: int, *, status: str, attempts: int, error: str | None,
           now: datetime) -> None:
    """A claimed delivery's outcome."""
    with Session(engine) as session:
        session.execute(
            update(Delivery).where(Delivery.id == row_id).values(
                status=status, attempts=attempts, error=error, finished_at=now)
        )
        session.commit()


def take_over_claim(engine: Engine, *, ref: str, kind: str, recipient_key: str, channel: str,
                    now: datetime, lease: timedelta = CLAIM_LEASE) -> int | None:
    """The id of a pending delivery claimed before ``now - lease``, now claimed afresh by
    the caller; None when there is none (sent, failed, or still within its lease).

    A compare-and-set on the claim time: of several processes re-taking one dead claim,
    exactly one gets it, and a re-taker that dies too leaves it for the next lease."""
    with Session(engine) as session:
        row = session.execute(select(Delivery.id, Delivery.created_at).where(
            Delivery.ref == ref, Delivery.kind == kind, Delivery.recipient_key == recipient_key,
            Delivery.channel == channel, Delivery.status == "pending")).first()
        if row is None or _aware(row.created_at) > now - lease:
            return None
        taken = session.execute(
            update(Delivery).where(Delivery.id == row.id, Delivery.status == "pending",
                                   Delivery.created_at == row.created_at)
            .values(created_at=now, attempts=0)
            .execution_options(synchronize_session=False))
        session.commit()
    return int(row.id) if getattr(taken, "rowcount", 0) == 1 else None  # a CursorResult


def stale_claims(engine: Engine, now: datetime,
                 lease: timedelta = CLAIM_LEASE) -> list[dict[str, Any]]:
    """The messages (as stored at the claim) of pending deliveries claimed before
    ``now - lease``, one per message and recipient: to be delivered again."""
    with Session(engine) as session:
        rows = session.execute(
            select(Delivery.ref, Delivery.kind, Delivery.recipient_key, Delivery.message)
            .where(Delivery.status == "pending", Delivery.created_at <= now - lease,
                   Delivery.message.is_not(None))
            .order_by(Delivery.created_at, Delivery.id)).all()
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for ref, kind, key, message in rows:
        seen.setdefault((ref, kind, key), message)
    return list(seen.values())
