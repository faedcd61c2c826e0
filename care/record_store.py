"""The joint record, the check-in's outcome ratings and WHO-5, and caregivers' questions to
peers over the application database, one transaction each, as the dashboard's pages use
them (dashboard/views/record.py, dashboard/views/caregiver_questions.py). The rules are
care/record.py's, care/outcomes.py's, care/wellbeing.py's and care/questions.py's, which
take a session and never commit; who may call what is dashboard/security.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from care import outcomes, record, wellbeing
from care import questions as peer_questions
from care.plans import current_plan
from care.stories import Reader
from core.appdb.stories import PeerQuestion
from core.readings import Reading


class RecordStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, *, patient_id: str, name: str, reader: Reader, private: bool,
               readings: Sequence[Reading] | None, now: datetime) -> record.JointRecord:
        with Session(self._engine) as session:
            return record.build(session, patient_id=patient_id, name=name, reader=reader,
                                private=private, readings=readings, now=now)

    def share(self, *, patient_id: str, author_id: str, author_name: str, link: str,
              now: datetime) -> str:
        with Session(self._engine) as session:
            coach_id = record.share_with_care_team(
                session, patient_id=patient_id, author_id=author_id, author_name=author_name,
                link=link, now=now)
            session.commit()
            return coach_id

    def save_checkin(self, patient_id: str, scores: dict[str, int],
                     items: tuple[int, ...] | None, *, by: str,
                     now: datetime) -> tuple[int, wellbeing.Who5 | None]:
        """Her ratings of her active outcomes (others are ignored: a stale form) and the
        WHO-5 when answered, in one transaction: (how many rated, the WHO-5 result)."""
        with Session(self._engine) as session:
            active = {o.id for o in outcomes.active(session, patient_id)}
            rated = outcomes.rate_at_checkin(
                session, patient_id, {k: v for k, v in scores.items() if k in active}, now)
            who5 = None
            if items is not None:
                plan = current_plan(session, patient_id)
                who5 = wellbeing.record(session, patient_id, items, by=by,
                                        coach_id=plan.coach_id if plan else None, now=now)
            session.commit()
            return rated, who5

    def latest_wellbeing(self, patient_id: str) -> wellbeing.Who5 | None:
        with Session(self._engine) as session:
            return wellbeing.latest(session, patient_id)

    def latest_wellbeing_of(self, patient_ids: list[str]) -> dict[str, wellbeing.Who5]:
        with Session(self._engine) as session:
            return wellbeing.latest_of(session, patient_ids)


class CaregiverQuestionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def consenting(self, caregiver_id: str) -> dict[str, tuple[str, ...]]:
        with Session(self._engine) as session:
            return peer_questions.consenting(session, caregiver_id)

    def listed(self, reader: Reader) -> list[peer_questions.QuestionView]:
        with Session(self._engine) as session:
            return [peer_questions.view(session, reader, q)
                    for q in peer_questions.questions(session, reader)]

    def ask_for(self, reader: Reader, *, patient_id: str, condition: str, title: str,
                body: str, naming: str, now: datetime) -> str:
        with Session(self._engine) as session:
            question_id = peer_questions.ask_for(
                session, reader, patient_id=patient_id, condition=condition, title=title,
                body=body, naming=naming, now=now).id
            session.commit()
            return question_id

    def question(self, reader: Reader, question: PeerQuestion) -> peer_questions.QuestionView:
        with Session(self._engine) as session:
            return peer_questions.view(session, reader, question)
