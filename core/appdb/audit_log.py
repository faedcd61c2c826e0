"""The audit log: every read of another person's data, and every refusal
(dashboard/security.py writes it, the audit pages read it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from core.appdb.accounts import AuditEvent
from core.clock import aware

REFUSED = "denied:"  # purpose prefix of a refused attempt


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor_id: str
    actor_role: str
    patient_id: str
    purpose: str  # what was read, or REFUSED + what was asked for
    path: str = ""

    @property
    def refused(self) -> bool:
        return self.purpose.startswith(REFUSED)


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, entries: Sequence[AuditEntry]) -> None:
        """One multi-row INSERT in one transaction (SQLAlchemy Core: a quarter of the
        ORM's CPU; dashboard/audit_writer.py groups requests' rows into one call)."""
        if not entries:
            return
        with self._engine.begin() as conn:
            conn.execute(insert(AuditEvent), [
                {"at": e.at, "actor_id": e.actor_id, "actor_role": e.actor_role,
                 "patient_id": e.patient_id, "purpose": e.purpose[:64], "path": e.path[:300]}
                for e in entries])

    def entries(self, *, patient_id: str | None = None, limit: int = 200, offset: int = 0,
                refused: bool = True) -> list[AuditEntry]:
        """Newest first; one patient's or everyone's; ``refused=False``: reads only."""
        query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if patient_id is not None:
            query = query.where(AuditEvent.patient_id == patient_id)
        if not refused:
            query = query.where(AuditEvent.purpose.not_like(f"{REFUSED}%"))
        with Session(self._engine) as session:
            rows = session.scalars(query.limit(limit).offset(offset))
            return [AuditEntry(aware(r.at), r.actor_id, r.actor_role, r.patient_id, r.purpose,
                               r.path) for r in rows]
