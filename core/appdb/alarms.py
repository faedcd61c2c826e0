"""Each patient's alarm sound for safety alerts on the pages (dashboard Today and inbox).

As CGM apps do it: the patient may make the alarm of an urgent low quieter, never
silent; other urgent safety alerts may also be silenced (docs/DASHBOARD.md, "Safety
alerts"). The check is ``validate``; the dashboard refuses anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.appdb.models import Base

URGENT_LOW_SOUNDS = ("normal", "quieter")  # never "silent": an urgent low always sounds
OTHER_SOUNDS = ("normal", "quieter", "silent")


def _now() -> datetime:
    return datetime.now(UTC)


class AlarmPreference(Base):
    """How loud the pages sound an open urgent alert for this patient."""

    __tablename__ = "alarm_preferences"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    urgent_low: Mapped[str] = mapped_column(String(16), default="normal")
    other_urgent: Mapped[str] = mapped_column(String(16), default="normal")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def validate(urgent_low: str, other_urgent: str) -> None:
    """ValueError with a plain reason for a sound the rules do not allow."""
    if urgent_low == "silent":
        raise ValueError("the alarm for an urgent low cannot be silent: choose normal or quieter")
    if urgent_low not in URGENT_LOW_SOUNDS:
        raise ValueError(f"urgent low sound must be one of {', '.join(URGENT_LOW_SOUNDS)}")
    if other_urgent not in OTHER_SOUNDS:
        raise ValueError(f"other urgent alert sound must be one of {', '.join(OTHER_SOUNDS)}")


def alarm_choice(engine: Engine, patient_id: str) -> tuple[str, str] | None:
    """The patient's (urgent low, other urgent) sounds, None before she chose."""
    with Session(engine) as session:
        row = session.get(AlarmPreference, patient_id)
        return None if row is None else (row.urgent_low, row.other_urgent)


def save_alarm_choice(engine: Engine, patient_id: str, urgent_low: str, other_urgent: str, *,
                      now: datetime) -> None:
    """Store the patient's choice; ValueError (with the reason) for one not allowed."""
    validate(urgent_low, other_urgent)
    with Session(engine) as session:
        row = session.get(AlarmPreference, patient_id) or AlarmPreference(patient_id=patient_id)
        row.urgent_low, row.other_urgent, row.updated_at = urgent_low, other_urgent, now
        session.add(row)
        session.commit()
