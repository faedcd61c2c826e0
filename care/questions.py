"""Questions to peers (issue 21): a patient asks the people who live with the same
condition, beyond their own group; peers answer; a coach may mark an answer clinically
unsafe, and the explanation is shown with it to everyone who reads it.

Who may read a question (``readable``, the one rule, reached from the dashboard only
through dashboard/security.py): the asker; every patient who lives with the condition
it was asked about; the coaches and nurses of the asker's clinic and the asker's own
coaches. Answering is for patients who may read it; marking unsafe for coaches who may.
The asker hears of new answers through the coach's ``peer_answer`` nudge (a
motivational message within the daily budget: coach/rules/peer_stories.py).

A caregiver may ask on behalf of the person she cares for (``ask_for``), only while that
person shares "questions" with her (their consent, revocable on their sharing page), about
a condition that person lives with; the question is shown to everyone as from a caregiver
(``shown_asker``), counts as the person's for reading (she, her coaches and her clinic read
it; peers with the condition read and answer it) and for the answers nudge, and the
caregiver reads it and its answers.
Functions take the session and never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from care.plans import new_id
from care.stories import FLAG_TYPE as STORY_FLAG
from care.stories import NAMINGS, Offer, Reader, offer_for, offered_stories, patient_reader
from core.appdb.accounts import CaregiverShare, ClinicPatient
from core.appdb.accounts import User as Account
from core.appdb.coaching import CoachNudge
from core.appdb.joint_record import CaregiverQuestion
from core.appdb.models import Patient
from core.appdb.stories import PeerAnswer, PeerQuestion
from core.clock import aware

logger = logging.getLogger(__name__)

TITLE_MAX = 120
BODY_MAX = 1000
FLAG_TYPE = "peer_answer"


class QuestionError(ValueError):
    pass


def readable(reader: Reader) -> ColumnElement[bool]:
    """THE rule for questions (and their answers): a SQL condition on ``PeerQuestion``.

    A caregiver reads the questions she asked; a patient also reads those a caregiver
    asked on her behalf."""
    own = PeerQuestion.asker_id == reader.user_id
    if reader.role == "caregiver":
        return own
    if reader.role == "patient":
        peers = (and_(PeerQuestion.state == "open",
                      PeerQuestion.condition.in_(sorted(reader.conditions)))
                 if reader.conditions else false())
        for_her = (PeerQuestion.asker_patient_id == reader.patient_id if reader.patient_id
                   else false())
        return or_(own, peers, for_her)
    if reader.role in ("coach", "nurse"):
        clinic = (PeerQuestion.asker_patient_id.in_(select(ClinicPatient.patient_id).where(
            ClinicPatient.clinic_id.in_(reader.clinics))) if reader.clinics else false())
        team = (PeerQuestion.asker_patient_id.in_(reader.caseload) if reader.caseload
                else false())
        return or_(clinic, team)
    return false()


def find_readable(session: Session, reader: Reader, question_id: str) -> PeerQuestion | None:
    return session.scalars(select(PeerQuestion).where(PeerQuestion.id == question_id,
                                                      readable(reader))).first()


def _text(value: str, limit: int, what: str) -> str:
    out = value.strip()
    if not 0 < len(out) <= limit:
        raise QuestionError(f"{what} is 1-{limit} characters")
    return out


def ask(session: Session, reader: Reader, *, condition: str, title: str, body: str,
        naming: str, now: datetime) -> PeerQuestion:
    """A patient asks everyone who lives with one of their conditions."""
    if reader.role != "patient" or not reader.patient_id:
        raise QuestionError("patients ask questions to their peers")
    if condition not in reader.conditions:
        raise QuestionError("ask about a condition you live with")
    if naming not in NAMINGS:
        raise QuestionError(f"naming is one of {NAMINGS}")
    question = PeerQuestion(id=new_id(), asker_id=reader.user_id,
                            asker_patient_id=reader.patient_id, condition=condition,
                            title=_text(title, TITLE_MAX, "a question's title"),
                            body=_text(body, BODY_MAX, "a question"), naming=naming,
                            state="open", created_at=now)
    session.add(question)
    session.flush()
    return question


QUESTIONS_SCOPE = "questions"  # the share that lets a caregiver ask for the patient


def consenting(session: Session, caregiver_id: str) -> dict[str, tuple[str, ...]]:
    """The people who let this caregiver ask peers on their behalf (their "questions"
    share, revocable on their sharing page), each with the conditions they live with."""
    out: dict[str, tuple[str, ...]] = {}
    for share in session.scalars(select(CaregiverShare).where(
            CaregiverShare.caregiver_id == caregiver_id)):
        if QUESTIONS_SCOPE in (share.scopes or ()):
            patient = session.get(Patient, share.patient_id)
            if patient is not None:
                out[share.patient_id] = tuple(patient.conditions or ())
    return out


def ask_for(session: Session, reader: Reader, *, patient_id: str, condition: str, title: str,
            body: str, naming: str, now: datetime) -> PeerQuestion:
    """A caregiver asks peers on behalf of the person she cares for: only with that
    person's consent (the "questions" share), about a condition that person lives with;
    shown to everyone as from a caregiver (``shown_asker``), never with the patient's
    name. The person herself reads it and its answers, and hears of new answers."""
    if reader.role != "caregiver":
        raise QuestionError("caregivers ask on behalf of the person they care for")
    conditions = consenting(session, reader.user_id).get(patient_id)
    if conditions is None:
        raise QuestionError("this person has not agreed that you ask for them")
    if condition not in conditions:
        raise QuestionError("ask about a condition the person you care for lives with")
    if naming not in NAMINGS:
        raise QuestionError(f"naming is one of {NAMINGS}")
    question = PeerQuestion(id=new_id(), asker_id=reader.user_id, asker_patient_id=patient_id,
                            condition=condition,
                            title=_text(title, TITLE_MAX, "a question's title"),
                            body=_text(body, BODY_MAX, "a question"), naming=naming,
                            state="open", created_at=now)
    session.add(question)
    session.flush()
    session.add(CaregiverQuestion(question_id=question.id, caregiver_id=reader.user_id,
                                  patient_id=patient_id))
    session.flush()
    return question


def asked_by_caregiver(session: Session, question_id: str) -> str | None:
    """The caregiver's account id when a caregiver asked this question, else None."""
    row = session.get(CaregiverQuestion, question_id)
    return row.caregiver_id if row else None


def shown_asker(session: Session, question: PeerQuestion, *, mine: bool) -> str:
    """Who asked, as readers are shown it: a caregiver's question always says so."""
    caregiver_id = asked_by_caregiver(session, question.id)
    if caregiver_id is None:
        return shown_name(session, question.asker_patient_id, question.naming, mine=mine)
    if mine:
        return "You (as a caregiver)"
    account = session.get(Account, caregiver_id)
    name = (account.display_name if account else "").strip()
    if question.naming == "anonymous" or not name:
        return "A caregiver"
    return f"{name if question.naming == 'full' else name.split()[0]}, a caregiver"


def answer(session: Session, reader: Reader, question_id: str, *, body: str, naming: str,
           now: datetime) -> PeerAnswer:
    question = find_readable(session, reader, question_id)
    if question is None or reader.role != "patient" or not reader.patient_id:
        raise QuestionError("only peers who may read a question answer it")
    if question.state != "open":
        raise QuestionError("this question is closed")
    if naming not in NAMINGS:
        raise QuestionError(f"naming is one of {NAMINGS}")
    row = PeerAnswer(id=new_id(), question_id=question.id, author_id=reader.user_id,
                     author_patient_id=reader.patient_id,
                     body=_text(body, BODY_MAX, "an answer"), naming=naming, created_at=now)
    session.add(row)
    session.flush()
    return row


def mark_unsafe(session: Session, reader: Reader, question_id: str, answer_id: str, *,
                reason: str, now: datetime) -> PeerAnswer:
    """A coach marks an answer clinically unsafe; the explanation is shown with it."""
    if reader.role != "coach" or find_readable(session, reader, question_id) is None:
        raise QuestionError("only a coach who may read the question marks an answer")
    row = session.get(PeerAnswer, answer_id)
    if row is None or row.question_id != question_id:
        raise QuestionError("no such answer")
    row.unsafe_by, row.unsafe_at = reader.user_id, now
    row.unsafe_reason = _text(reason, BODY_MAX, "the explanation")
    session.flush()
    logger.info("answer %s marked unsafe by %s", row.id, reader.user_id)
    return row


def withdraw(session: Session, reader: Reader, question_id: str) -> PeerQuestion:
    question = session.get(PeerQuestion, question_id)
    if question is None or question.asker_id != reader.user_id:
        raise QuestionError("only the asker withdraws a question")
    question.state = "withdrawn"
    session.flush()
    return question


# --- reading ---------------------------------------------------------------------------------


def shown_name(session: Session, patient_id: str, naming: str, *, mine: bool) -> str:
    if mine:
        return "You"
    if naming == "anonymous":
        return "A peer"
    patient = session.get(Patient, patient_id)
    name = (patient.display_name if patient else "").strip()
    if not name:
        return "A peer"
    return name if naming == "full" else name.split()[0]


@dataclass(frozen=True, slots=True)
class AnswerView:
    answer: PeerAnswer
    author: str
    mine: bool


@dataclass(frozen=True, slots=True)
class QuestionView:
    question: PeerQuestion
    asker: str
    mine: bool
    answers: tuple[AnswerView, ...]


def questions(session: Session, reader: Reader, *, limit: int = 50) -> list[PeerQuestion]:
    return list(session.scalars(select(PeerQuestion).where(readable(reader))
                                .order_by(PeerQuestion.created_at.desc()).limit(limit)))


def view(session: Session, reader: Reader, question: PeerQuestion) -> QuestionView:
    rows = session.scalars(select(PeerAnswer).where(PeerAnswer.question_id == question.id)
                           .order_by(PeerAnswer.created_at, PeerAnswer.id))
    answers = tuple(AnswerView(a, shown_name(session, a.author_patient_id, a.naming,
                                             mine=a.author_id == reader.user_id),
                               a.author_id == reader.user_id) for a in rows)
    mine = question.asker_id == reader.user_id
    return QuestionView(question, shown_asker(session, question, mine=mine), mine, answers)


@dataclass(frozen=True, slots=True)
class AnswerNews:
    """New answers to one of the patient's questions, for the coach's nudge."""

    question_id: str
    title: str
    latest_answer_id: str
    answers: int


def new_answers(session: Session, patient_id: str, since: datetime) -> tuple[AnswerNews, ...]:
    """Answers by others since ``since`` to the patient's open questions, per question."""
    rows = session.execute(
        select(PeerQuestion.id, PeerQuestion.title, PeerAnswer.id)
        .join(PeerAnswer, PeerAnswer.question_id == PeerQuestion.id)
        .where(PeerQuestion.asker_patient_id == patient_id, PeerQuestion.state == "open",
               PeerAnswer.created_at >= since, PeerAnswer.author_patient_id != patient_id)
        .order_by(PeerAnswer.created_at, PeerAnswer.id))
    found: dict[str, AnswerNews] = {}
    for qid, title, aid in rows:
        seen = found.get(qid)
        found[qid] = AnswerNews(qid, title, aid, (seen.answers if seen else 0) + 1)
    return tuple(found.values())


@dataclass(frozen=True, slots=True)
class PeerNews:
    """What the coach's peer rules read (coach/rules/peer_stories.py): the story to offer,
    when the last offer was made, and new answers to the patient's questions."""

    offer: Offer | None
    last_offer_at: datetime | None
    answers: tuple[AnswerNews, ...]


ANSWER_NEWS_HOURS = 24  # answers this recent are news (the nudge's key is the newest)


def peer_news(session: Session, patient_id: str, now: datetime, *,
              offer: bool = True) -> PeerNews:
    """New answers to the patient's questions and, with ``offer``, the best story not yet
    offered to her and when the last offer was made (the story part reads more: the
    coach asks for it on its daily run only)."""
    answers = new_answers(session, patient_id, now - timedelta(hours=ANSWER_NEWS_HOURS))
    if not offer:
        return PeerNews(None, None, answers)
    found = offer_for(session, patient_id, patient_reader(session, patient_id),
                      exclude=offered_stories(session, patient_id))
    last = session.scalars(select(func.max(CoachNudge.created_at)).where(
        CoachNudge.patient_id == patient_id, CoachNudge.flag_type == STORY_FLAG)).first()
    return PeerNews(found, aware(last) if last else None, answers)


__all__ = [
    "ANSWER_NEWS_HOURS", "BODY_MAX", "FLAG_TYPE", "QUESTIONS_SCOPE", "TITLE_MAX", "AnswerNews",
    "AnswerView", "PeerNews", "QuestionError", "QuestionView", "answer", "ask", "ask_for",
    "asked_by_caregiver", "consenting", "find_readable", "mark_unsafe", "new_answers",
    "peer_news", "questions", "readable", "shown_asker", "shown_name", "view", "withdraw",
]
