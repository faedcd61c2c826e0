"""The joint record's own tables (issue 21): the WHO-5 Well-Being Index a patient fills in
at a check-in, and the link that marks a question to peers as asked by a caregiver on
behalf of the person they care for. The rules live in care/wellbeing.py and
care/questions.py; these are only the tables.

``who5_checks``: one row per completed WHO-5 (the five item scores 0-5 and the raw total
0-25; the percentage is the raw total times 4). ``caregiver_questions``: one row per
question a caregiver asked (the question itself is a ``peer_questions`` row whose
``asker_id`` is the caregiver's account and ``asker_patient_id`` the person cared for).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.appdb.models import Base, _now

UTC_DATETIME = DateTime(timezone=True)


class WellbeingCheck(Base):
    __tablename__ = "who5_checks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    items: Mapped[list[Any]] = mapped_column(JSON)  # five item scores, 0-5, in item order
    raw: Mapped[int] = mapped_column(Integer)  # 0-25
    taken_by: Mapped[str] = mapped_column(String(128))
    taken_at: Mapped[datetime] = mapped_column(UTC_DATETIME, default=_now)


class CaregiverQuestion(Base):
    __tablename__ = "caregiver_questions"

    question_id: Mapped[str] = mapped_column(ForeignKey("peer_questions.id"), primary_key=True)
    caregiver_id: Mapped[str] = mapped_column(String(128), index=True)
    patient_id: Mapped[str] = mapped_column(String(128), index=True)
