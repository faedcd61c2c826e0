"""Kept dead letters: every message ingest refused, with its reason, for an operator.

Ingest publishes a dead letter (ingest/deadletter.py) on ``hearth/v1/dead/{device}``;
the keeper (ingest/deadletter_keeper.py, ``hearth dead-letters keep``) stores each one
here before it acknowledges it to the broker. ``hearth dead-letters list|show|replay``
read and replay them; letters older than the retention are pruned.

The same rejected message delivered again (a gateway's re-send, the broker's
redelivery after a crash) is kept once: its identity is the SHA-256 of the topic,
the original payload and the reason, and a repeat counts ``times`` up.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Engine, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base

UNREADABLE = "unreadable_letter"


class DeadLetterRecord(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(128), index=True)
    topic: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    errors: Mapped[str] = mapped_column(Text)  # JSON: [{"code", "reason", "index"}, ...]
    payload: Mapped[str] = mapped_column(Text)
    payload_encoding: Mapped[str] = mapped_column(String(16))  # "utf-8" or "base64"
    payload_bytes: Mapped[int] = mapped_column(Integer)  # of the original message
    payload_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # by ingest, first
    last_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    times: Mapped[int] = mapped_column(Integer, default=1)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    replay_outcome: Mapped[str | None] = mapped_column(Text, default=None)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    device_id: str
    topic: str
    reason: str
    codes: tuple[str, ...]
    errors: tuple[dict[str, Any], ...]
    payload: str
    payload_encoding: str
    payload_bytes: int
    payload_truncated: bool
    received_at: datetime
    last_received_at: datetime
    times: int
    replayed_at: datetime | None
    replay_outcome: str | None

    def original(self) -> bytes | None:
        """The message as the device sent it, or None when only its start was kept."""
        if self.payload_truncated:
            return None
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "device_id": self.device_id, "topic": self.topic,
            "reason": self.reason, "errors": list(self.errors),
            "payload": self.payload, "payload_encoding": self.payload_encoding,
            "payload_bytes": self.payload_bytes, "payload_truncated": self.payload_truncated,
            "received_at": _iso(self.received_at),
            "last_received_at": _iso(self.last_received_at), "times": self.times,
            "replayed_at": _iso(self.replayed_at) if self.replayed_at else None,
            "replay_outcome": self.replay_outcome,
        }


def _iso(when: datetime) -> str:
    return _aware(when).isoformat().replace("+00:00", "Z")


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive times; every time here is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Parsed:
    device_id: str
    topic: str
    reason: str
    errors: list[dict[str, Any]]
    payload: str
    encoding: str
    payload_bytes: int
    truncated: bool
    received_at: datetime


def parse_letter(letter: bytes, *, topic: str, kept_at: datetime) -> _Parsed:
    """A dead letter as ingest writes it; anything else is kept whole, as unreadable."""
    try:
        body = json.loads(letter)
        device_id, original_topic = str(body["device_id"]), str(body["topic"])
        reason, errors = str(body["reason"]), list(body.get("errors", []))
        payload, encoding = str(body["payload"]), str(body.get("payload_encoding", "utf-8"))
        if encoding not in ("utf-8", "base64"):
            raise ValueError(encoding)
        received_at = datetime.fromisoformat(str(body["received_at"]).replace("Z", "+00:00"))
        truncated = bool(body.get("payload_truncated", False))
        size = int(body.get("payload_bytes", len(payload.encode("utf-8")) if encoding == "utf-8"
                            else len(base64.b64decode(payload))))
        return _Parsed(device_id, original_topic, reason, errors, payload, encoding, size,
                       truncated, _aware(received_at))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        device_id = topic.rsplit("/", 1)[-1]
        return _Parsed(device_id, topic, "the dead letter itself could not be read",
                       [{"code": UNREADABLE, "reason": "not a dead letter", "index": None}],
                       base64.b64encode(letter).decode("ascii"), "base64", len(letter), False,
                       kept_at)


class DeadLetterStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def keep(self, letters: Sequence[tuple[str, bytes]], *, now: datetime) -> int:
        """Store (topic, letter) pairs in one transaction; returns how many were new."""
        new = 0
        with Session(self._engine) as session:
            seen: dict[str, DeadLetterRecord] = {}
            for topic, letter in letters:
                parsed = parse_letter(letter, topic=topic, kept_at=now)
                digest = _digest(parsed)
                row = seen.get(digest) or session.scalars(
                    select(DeadLetterRecord).where(DeadLetterRecord.digest == digest)).first()
                if row is not None:
                    row.times += 1
                    row.last_received_at = max(_aware(row.last_received_at), parsed.received_at)
                    continue
                row = DeadLetterRecord(
                    digest=digest, device_id=parsed.device_id[:128], topic=parsed.topic[:300],
                    reason=parsed.reason, errors=json.dumps(parsed.errors),
                    payload=parsed.payload, payload_encoding=parsed.encoding,
                    payload_bytes=parsed.payload_bytes, payload_truncated=parsed.truncated,
                    received_at=parsed.received_at, last_received_at=parsed.received_at,
                    times=1)
                session.add(row)
                seen[digest] = row
                new += 1
            session.commit()
        return new

    def list(self, *, device_id: str | None = None, code: str | None = None,
             limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        query = select(DeadLetterRecord).order_by(DeadLetterRecord.last_received_at.desc(),
                                                  DeadLetterRecord.id.desc())
        if device_id is not None:
            query = query.where(DeadLetterRecord.device_id == device_id)
        if code is not None:
            query = query.where(DeadLetterRecord.errors.contains(f'"code": "{code}"'))
        with Session(self._engine) as session:
            return [_letter(r) for r in session.scalars(query.limit(limit))]

    def get(self, letter_id: int) -> DeadLetter | None:
        with Session(self._engine) as session:
            row = session.get(DeadLetterRecord, letter_id)
            return None if row is None else _letter(row)

    def mark_replayed(self, letter_id: int, outcome: str, *, now: datetime) -> None:
        with Session(self._engine) as session:
            row = session.get(DeadLetterRecord, letter_id)
            if row is not None:
                row.replayed_at, row.replay_outcome = now, outcome
                session.commit()

    def prune(self, *, older_than: datetime) -> int:
        """Forget letters last received before ``older_than`` (the retention)."""
        with Session(self._engine) as session:
            result = session.execute(delete(DeadLetterRecord).where(
                DeadLetterRecord.last_received_at < older_than))
            session.commit()
            return int(getattr(result, "rowcount", 0) or 0)

    def count(self) -> int:
        with Session(self._engine) as session:
            return int(session.scalar(select(func.count()).select_from(DeadLetterRecord)) or 0)


def _digest(parsed: _Parsed) -> str:
    h = hashlib.sha256()
    for part in (parsed.topic, parsed.encoding, parsed.payload, parsed.reason):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _letter(row: DeadLetterRecord) -> DeadLetter:
    errors = tuple(json.loads(row.errors))
    return DeadLetter(
        id=row.id, device_id=row.device_id, topic=row.topic, reason=row.reason,
        codes=tuple(dict.fromkeys(str(e.get("code")) for e in errors)), errors=errors,
        payload=row.payload, payload_encoding=row.payload_encoding,
        payload_bytes=row.payload_bytes, payload_truncated=row.payload_truncated,
        received_at=_aware(row.received_at), last_received_at=_aware(row.last_received_at),
        times=row.times, replayed_at=_aware(row.replayed_at) if row.replayed_at else None,
        replay_outcome=row.replay_outcome)
