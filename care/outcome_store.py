"""Outcomes that matter to me over the application database, one transaction each, as the
patient's outcomes page, her Today page and her coach's patient page use them (the rules
are care/outcomes.py, which takes a session and never commits).

Everything is scoped to one patient: an outcome of someone else is a ``LookupError``, as
is one that does not exist; a refusal of the rules is ``outcomes.OutcomeError`` with its
reason. Who may call what is decided by dashboard/security.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import outcomes


class OutcomeStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def active(self, patient_id: str) -> list[outcomes.Outcome]:
        with Session(self._engine) as session:
            return outcomes.active(session, patient_id)

    def add(self, patient_id: str, text: str, created_by: str, now: datetime) -> None:
        with Session(self._engine) as session:
            outcomes.add(session, patient_id, text, created_by, now)
            session.commit()

    def rate(self, patient_id: str, outcome_id: str, score: int, now: datetime) -> None:
        with Session(self._engine) as session:
            outcomes.rate(session, patient_id, outcome_id, score, now)
            session.commit()

    def retire(self, patient_id: str, outcome_id: str, now: datetime) -> None:
        with Session(self._engine) as session:
            outcomes.retire(session, patient_id, outcome_id, now)
            session.commit()
