"""The coaching service's data access (coach/evaluation.py strings the rules and the
dispatcher together; the reads, the locking and the transactions are here).

``session()`` is one transaction: the caller reads, runs the rules and the policy
modules over it (they take a session and never commit) and commits when it wrote.
``writer()`` is a transaction that takes SQLite's write lock first, while no snapshot
is held, so that a read snapshot is never upgraded to a write (SQLITE_BUSY_SNAPSHOT
would fail at once, whatever the busy timeout); on PostgreSQL both are plain sessions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from core.appdb.coaching import CoachNudge
from core.appdb.directory import DeviceBinding, PatientInfo
from core.appdb.models import Device, Patient
from core.appdb.plans import Goal


class CoachStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; nothing is committed unless the caller commits."""
        with Session(self._engine) as session:
            yield session

    @contextmanager
    def writer(self) -> Iterator[Session]:
        """A transaction that holds the write lock from its start (SQLite: waiting up to
        the busy timeout while another worker writes); the caller commits."""
        with Session(self._engine) as session:
            begin_write(session)
            yield session

    def patient_ids(self) -> list[str]:
        """Every patient, by id."""
        with Session(self._engine) as session:
            return list(session.scalars(select(Patient.id).order_by(Patient.id)))

    def people(self, ids: Sequence[str]) -> tuple[dict[str, PatientInfo],
                                                  dict[str, list[DeviceBinding]]]:
        """These patients and their devices, read in bulk."""
        people: dict[str, PatientInfo] = {}
        devices: dict[str, list[DeviceBinding]] = {}
        with Session(self._engine) as session:
            for p in session.scalars(select(Patient).where(Patient.id.in_(ids))):
                people[p.id] = PatientInfo(p.id, p.display_name, p.timezone,
                                           tuple(p.conditions or ()), dict(p.targets or {}))
            for d in session.scalars(select(Device).where(Device.patient_id.in_(ids))
                                     .order_by(Device.id)):
                devices.setdefault(d.patient_id, []).append(
                    DeviceBinding(d.id, d.patient_id, d.kind, d.active))
        return people, devices


def patients_with_goals(session: Session, ids: Sequence[str]) -> set[str]:
    """Which of these patients have an active plan goal (the others need no goal query)."""
    found: set[str] = set()
    for k in range(0, len(ids), 500):
        found.update(session.scalars(select(Goal.patient_id).where(
            Goal.patient_id.in_(ids[k:k + 500]), Goal.status == "active").distinct()))
    return found


def digest_since(session: Session, patient_id: str, since: datetime) -> bool:
    """Whether the patient has had a digest since ``since``."""
    return session.scalar(
        select(CoachNudge.id).where(CoachNudge.patient_id == patient_id,
                                    CoachNudge.kind == "digest",
                                    CoachNudge.created_at >= since).limit(1)
    ) is not None


def begin_write(session: Session) -> None:
    """Start the transaction as a writer (SQLite: wait for the write lock now, while no
    snapshot is held, rather than fail when the first row is written)."""
    wait_for_writers(session)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE coach_cooldowns SET last_level = last_level WHERE 0"))


def wait_for_writers(session: Session) -> None:
    """SQLite: wait for another worker's short dispatch transaction rather than fail."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA busy_timeout = 60000"))
