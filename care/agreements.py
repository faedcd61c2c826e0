"""A say over the service (issue 21): each clinic's service agreement, measured from the
data Hearth already has, breaches the patient sees and the clinic's lead works, and the
patient's formal request ("force a change") with its required written answer. A limit
may also be written with one patient (``set_personal_limit``: her coach records what they
agreed), in place of the clinic's for her.

The standards are service standards, not clinical thresholds: how long a person waits for
people, never what a reading means. Their defaults are in docs/SERVICE.md; a clinic's
nurse publishes its own limits (``set_limit``). Each case measured is one
``service_measures`` row, written by ``measure``: the coach's scheduler runs it for every
clinic each hour (coach/service.py), and the pages run it for what they show, so a page
is never staler than its own view. A case keeps the limit agreed when its clock started.
Functions take the session and never commit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from care.plans import new_id
from core.appdb.accounts import AuditEvent, ClinicPatient
from core.appdb.agreements import (
    PatientStandard,
    ServiceComplaint,
    ServiceMeasure,
    ServiceStandard,
)
from core.appdb.coaching import CoachAlert, EscalationStep
from core.appdb.delivery import InboxMessage
from core.appdb.plans import GoalChange, Plan
from core.appdb.reviews import PatientReview
from core.appdb.stories import PeerQuestion
from core.clock import aware
from core.i18n import N_, say

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=100)  # what is measured: the clinic page shows three months
STAFF = ("coach", "nurse")
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Standard:
    """One promise: its unit, its default (docs/SERVICE.md), the range a clinic may set,
    what it promises the patient, and how a miss is told to her (late, and still
    waiting)."""

    key: str
    unit: str
    default: int
    low: int
    high: int
    promise: str
    late: str
    waiting: str
    staff: str  # the queue's words for the clinic's staff


STANDARDS: tuple[Standard, ...] = (
    Standard("reply", "hours", 48, 1, 336,
             N_("Your coach answers your message within {limit} hours."),
             N_("Your message waited {waited} hours for a reply. The agreement is {limit} "
                "hours."),
             N_("Your message has waited {waited} hours so far. The agreement is {limit} "
                "hours."),
             "a message waiting for the coach's reply"),
    Standard("urgent_ack", "minutes", 30, 5, 240,
             N_("Staff see an urgent alert within {limit} minutes."),
             N_("An urgent alert waited {waited} minutes for staff. The agreement is {limit} "
                "minutes."),
             N_("An urgent alert has waited {waited} minutes so far. The agreement is "
                "{limit} minutes."),
             "an urgent alert waiting for a coach or nurse"),
    Standard("review", "weeks", 4, 1, 26,
             N_("Your care team looks at your plan with you every {limit} weeks."),
             N_("Your plan waited {waited} weeks for a look. The agreement is {limit} "
                "weeks."),
             N_("Your plan has waited {waited} weeks so far for a look. The agreement is "
                "{limit} weeks."),
             "a plan waiting for its review"),
    Standard("question_review", "days", 2, 1, 30,
             N_("A coach reads your question to peers within {limit} days."),
             N_("Your question waited {waited} days for a coach. The agreement is {limit} "
                "days."),
             N_("Your question has waited {waited} days so far for a coach. The agreement "
                "is {limit} days."),
             "a question to peers not yet read by a coach"),
    Standard("request_answer", "days", 10, 1, 60,
             N_("The clinic writes back to your request within {limit} days."),
             N_("Your request waited {waited} days for an answer. The agreement is {limit} "
                "days."),
             N_("Your request has waited {waited} days so far. The agreement is {limit} "
                "days."),
             "a formal request waiting for its written answer"),
)
BY_KEY = {s.key: s for s in STANDARDS}

ASKS: dict[str, str] = {
    "review": N_("Ask for a review of my care"),
    "different_coach": N_("Ask for a different coach"),
    "other": N_("Something else"),
}
TEXT_MAX = 1000


class AgreementError(ValueError):
    pass


# -- the agreement --------------------------------------------------------------------------

def clinic_of(session: Session, patient_id: str) -> str | None:
    found: str | None = session.scalar(select(ClinicPatient.clinic_id).where(
        ClinicPatient.patient_id == patient_id))
    return found


def agreement(session: Session, clinic_id: str, patient_id: str | None = None
              ) -> dict[str, int]:
    """The limits, standard by standard: the clinic's own, else the default; with
    ``patient_id``, the ones written with her in their place."""
    limits = {s.key: s.default for s in STANDARDS}
    limits.update({row.standard: row.limit_value for row in session.scalars(
        select(ServiceStandard).where(ServiceStandard.clinic_id == clinic_id))})
    if patient_id is not None:
        limits.update(personal(session, [patient_id]).get(patient_id, {}))
    return limits


def personal(session: Session, patient_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """The limits written with each of these patients, by patient and standard."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for row in session.scalars(select(PatientStandard).where(
            PatientStandard.patient_id.in_(list(patient_ids)))):
        out[row.patient_id][row.standard] = row.limit_value
    return dict(out)


def set_personal_limit(session: Session, patient_id: str, key: str, value: int | None, *,
                       by: str, now: datetime) -> None:
    """Write a limit agreed with the patient in place of her clinic's (within the range a
    clinic may set); ``None`` goes back to the clinic's. Cases already started keep
    theirs."""
    standard = BY_KEY.get(key)
    if standard is None:
        raise AgreementError(f"no standard {key!r}")
    row = session.get(PatientStandard, (patient_id, key))
    if value is None:
        if row is not None:
            session.delete(row)
        return
    if not standard.low <= value <= standard.high:
        raise AgreementError(f"{key} is {standard.low}-{standard.high} {standard.unit}")
    row = row or PatientStandard(patient_id=patient_id, standard=key)
    row.limit_value, row.agreed_by, row.agreed_at = value, by, now
    session.add(row)


def set_limit(session: Session, clinic_id: str, key: str, value: int, *, by: str,
              now: datetime) -> None:
    """Publish a new limit; cases already started keep the limit of their start."""
    standard = BY_KEY.get(key)
    if standard is None:
        raise AgreementError(f"no standard {key!r}")
    if not standard.low <= value <= standard.high:
        raise AgreementError(f"{key} is {standard.low}-{standard.high} {standard.unit}")
    row = session.get(ServiceStandard, (clinic_id, key)) or ServiceStandard(
        clinic_id=clinic_id, standard=key)
    row.limit_value, row.updated_by, row.updated_at = value, by, now
    session.add(row)


def promises(limits: dict[str, int]) -> list[tuple[str, str]]:
    """(standard, the English promise with its limit) in the agreement's order."""
    return [(s.key, say(s.promise, limit=limits[s.key])) for s in STANDARDS]


# -- measuring ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Case:
    patient_id: str
    ref: str
    started_at: datetime
    done_at: datetime | None


def measure(session: Session, now: datetime, *, clinic_ids: Iterable[str] | None = None,
            patient_ids: Iterable[str] | None = None) -> int:
    """Measure every standard for these clinics' patients (or these patients; all clinics
    when neither is given) over the last ``WINDOW``; returns how many new breaches."""
    query = select(ClinicPatient.clinic_id, ClinicPatient.patient_id)
    if clinic_ids is not None:
        query = query.where(ClinicPatient.clinic_id.in_(list(clinic_ids)))
    if patient_ids is not None:
        query = query.where(ClinicPatient.patient_id.in_(list(patient_ids)))
    by_clinic: dict[str, list[str]] = defaultdict(list)
    for clinic_id, patient_id in session.execute(query):
        by_clinic[clinic_id].append(patient_id)
    since = now - WINDOW
    new = 0
    for clinic_id, pids in by_clinic.items():
        limits = agreement(session, clinic_id)
        own = personal(session, pids)
        for key, cases in (("reply", _replies(session, pids, since)),
                           ("urgent_ack", _urgent_alerts(session, pids, since)),
                           ("review", _reviews(session, pids, since)),
                           ("question_review", _questions(session, pids, since)),
                           ("request_answer", _requests(session, pids, since))):
            limit_of = {pid: own[pid][key] for pid in own if key in own[pid]}
            new += _record(session, clinic_id, BY_KEY[key], limits[key], limit_of, cases,
                           now)
    session.flush()
    return new


def refresh(engine: Engine, now: datetime, *, clinic_ids: Iterable[str] | None = None,
            patient_ids: Iterable[str] | None = None) -> int:
    """``measure`` in a transaction of its own (the pages and the coach's hourly job). When
    another process recorded the same new case at the same moment (the unique case key),
    this run gives way: that case is recorded, and the next measure carries on from it."""
    try:
        with Session(engine) as session:
            new = measure(session, now, clinic_ids=clinic_ids, patient_ids=patient_ids)
            session.commit()
            return new
    except IntegrityError:
        logger.info("service measure met another writer's case; it stands")
        return 0


def _record(session: Session, clinic_id: str, standard: Standard, limit: int,
            limit_of: dict[str, int], cases: Sequence[Case], now: datetime) -> int:
    """Insert the new cases (with the clinic's ``limit``, or the one written with the
    patient in ``limit_of``) and update the undecided ones, in bulk: a case that is done
    and decided (met or missed) is never touched again."""
    if not cases:
        return 0
    pids = sorted({c.patient_id for c in cases})
    known = {ref: (mid, done, breached, due) for ref, mid, done, breached, due in
             session.execute(select(ServiceMeasure.ref, ServiceMeasure.id,
                                    ServiceMeasure.done_at, ServiceMeasure.breached_at,
                                    ServiceMeasure.due_at)
                             .where(ServiceMeasure.standard == standard.key,
                                    ServiceMeasure.patient_id.in_(pids),
                                    ServiceMeasure.started_at >= min(
                                        c.started_at for c in cases)))}
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    new = 0
    for case in cases:
        found = known.get(case.ref)
        if found is None:
            agreed = limit_of.get(case.patient_id, limit)
            due = case.started_at + timedelta(seconds=agreed * UNIT_SECONDS[standard.unit])
            breached = _missed(due, case.done_at, now)
            new += breached is not None
            inserts.append({"clinic_id": clinic_id, "patient_id": case.patient_id,
                            "standard": standard.key, "ref": case.ref, "limit_value": agreed,
                            "started_at": case.started_at, "due_at": due,
                            "done_at": case.done_at, "breached_at": breached})
            continue
        mid, done_at, breached_at, due_at = found
        done = aware(done_at) if done_at else case.done_at
        if breached_at is not None and done_at is not None:
            continue  # decided
        change: dict[str, object] = {}
        if done_at is None and done is not None:
            change["done_at"] = done
        if breached_at is None:
            breached = _missed(aware(due_at), done, now)
            if breached is not None:
                change["breached_at"] = breached
                new += 1
        if change:
            updates.append({"id": mid, **change})
    if inserts:
        session.execute(insert(ServiceMeasure), inserts)
    if updates:
        session.execute(update(ServiceMeasure), updates)
    return new


def _missed(due: datetime, done: datetime | None, now: datetime) -> datetime | None:
    """When a case was missed (its due time), or None while met or still in time."""
    late = done > due if done is not None else now > due
    return due if late else None


def _replies(session: Session, pids: list[str], since: datetime) -> list[Case]:
    """A patient's message starts the clock (the first of several in a row); the coach's
    next message to her stops it."""
    rows = session.execute(
        select(InboxMessage.id, InboxMessage.patient_id, InboxMessage.recipient_role,
               InboxMessage.created_at)
        .where(InboxMessage.patient_id.in_(pids), InboxMessage.kind == "message",
               InboxMessage.created_at >= since)
        .order_by(InboxMessage.patient_id, InboxMessage.created_at, InboxMessage.id)).all()
    cases: list[Case] = []
    waiting: dict[str, tuple[int, datetime]] = {}
    for message_id, pid, to, at in rows:
        if to == "coach" and pid not in waiting:
            waiting[pid] = (message_id, aware(at))
        elif to == "patient" and pid in waiting:
            first, started = waiting.pop(pid)
            cases.append(Case(pid, f"message:{first}", started, aware(at)))
    cases += [Case(pid, f"message:{first}", started, None)
              for pid, (first, started) in waiting.items()]
    return cases


def _urgent_alerts(session: Session, pids: list[str], since: datetime) -> list[Case]:
    """An urgent alert for the care team starts the clock when the team is told (at once
    for its own alerts; for a safety ladder, when a step reached a coach or nurse: one
    the patient or her caregiver saw first never reaches them); seeing it stops it."""
    alerts = session.scalars(select(CoachAlert).where(
        CoachAlert.patient_id.in_(pids), CoachAlert.priority == "urgent",
        CoachAlert.created_at >= since)).all()
    if not alerts:
        return []
    told = {alert_id: at for alert_id, at in session.execute(
        select(EscalationStep.alert_id, func.min(EscalationStep.at))
        .where(EscalationStep.alert_id.in_([a.id for a in alerts]),
               EscalationStep.role.in_(STAFF), EscalationStep.action == "notified")
        .group_by(EscalationStep.alert_id))}
    cases = []
    for alert in alerts:
        started = told.get(alert.id) if alert.kind == "escalation" else alert.created_at
        if started is None:
            continue
        done = alert.acknowledged_at or alert.resolved_at
        cases.append(Case(alert.patient_id, f"alert:{alert.id}", aware(started),
                          aware(done) if done else None))
    return cases


def _reviews(session: Session, pids: list[str], since: datetime) -> list[Case]:
    """The gap between two looks at a patient's plan by her care team (a coach's change
    or agreement, a nurse's review), from her first plan on; one look a day counts."""
    events: dict[str, set[datetime]] = defaultdict(set)
    for pid, at in session.execute(
            select(GoalChange.patient_id, GoalChange.at).where(
                GoalChange.patient_id.in_(pids), GoalChange.role.in_(STAFF))):
        events[pid].add(_day(at))
    for pid, at in session.execute(
            select(PatientReview.patient_id, PatientReview.reviewed_at).where(
                PatientReview.patient_id.in_(pids))):
        events[pid].add(_day(at))
    for pid, created, agreed in session.execute(
            select(Plan.patient_id, Plan.created_at, Plan.coach_agreed_at).where(
                Plan.patient_id.in_(pids))):
        events[pid].add(_day(created))
        if agreed is not None:
            events[pid].add(_day(agreed))
    cases = []
    for pid, days in events.items():
        ordered = sorted(days)
        for start, end in zip(ordered, [*ordered[1:], None], strict=True):
            if end is None or end >= since:
                cases.append(Case(pid, f"review:{pid}:{start.date().isoformat()}", start, end))
    return cases


def _day(at: datetime) -> datetime:
    return aware(at).replace(hour=0, minute=0, second=0, microsecond=0)


def _questions(session: Session, pids: list[str], since: datetime) -> list[Case]:
    """A question to peers waits for a coach to open it (its audited read)."""
    questions = session.execute(select(
        PeerQuestion.id, PeerQuestion.asker_patient_id, PeerQuestion.created_at).where(
        PeerQuestion.asker_patient_id.in_(pids), PeerQuestion.state == "open",
        PeerQuestion.created_at >= since)).all()
    if not questions:
        return []
    paths = {f"/questions/{qid}": qid for qid, _pid, _at in questions}
    first: dict[str, datetime] = {}
    for path, at in session.execute(
            select(AuditEvent.path, func.min(AuditEvent.at))
            .where(AuditEvent.patient_id.in_(pids), AuditEvent.actor_role == "coach",
                   AuditEvent.path.in_(list(paths)), AuditEvent.at >= since)
            .group_by(AuditEvent.path)):
        first[paths[path]] = aware(at)
    return [Case(pid, f"question:{qid}", aware(at), first.get(qid))
            for qid, pid, at in questions]


def _requests(session: Session, pids: list[str], since: datetime) -> list[Case]:
    rows = session.execute(select(
        ServiceComplaint.id, ServiceComplaint.patient_id, ServiceComplaint.created_at,
        ServiceComplaint.responded_at).where(ServiceComplaint.patient_id.in_(pids),
                                             ServiceComplaint.created_at >= since)).all()
    return [Case(pid, f"request:{cid}", aware(at), aware(done) if done else None)
            for cid, pid, at, done in rows]


# -- breaches ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Breach:
    id: int
    patient_id: str
    standard: str
    started_at: datetime
    breached_at: datetime
    waiting: bool  # still not done
    waited: int  # in the standard's unit, rounded down (so far, while waiting)
    limit: int
    text: str  # English, for the patient (the templates localise it)
    staff: str  # English, for the clinic's staff
    staff_seen: bool
    request_id: str | None


def _breach(row: ServiceMeasure, now: datetime, request_id: str | None) -> Breach:
    standard = BY_KEY[row.standard]
    end = aware(row.done_at) if row.done_at else now
    waited = int((end - aware(row.started_at)).total_seconds() // UNIT_SECONDS[standard.unit])
    template = standard.waiting if row.done_at is None else standard.late
    return Breach(row.id, row.patient_id, row.standard, aware(row.started_at),
                  aware(row.breached_at or row.due_at), row.done_at is None, waited,
                  row.limit_value, say(template, waited=waited, limit=row.limit_value),
                  standard.staff, row.staff_seen_at is not None, request_id)


def breaches_of(session: Session, patient_id: str, now: datetime) -> list[Breach]:
    """The patient's breaches of the last ``WINDOW``, newest first."""
    rows = session.scalars(select(ServiceMeasure).where(
        ServiceMeasure.patient_id == patient_id, ServiceMeasure.breached_at.is_not(None),
        ServiceMeasure.started_at >= now - WINDOW)
        .order_by(ServiceMeasure.breached_at.desc())).all()
    return _with_requests(session, rows, now)


def clinic_queue(session: Session, clinic_id: str, now: datetime) -> list[Breach]:
    """The breaches the clinic's staff have not marked seen, oldest first."""
    rows = session.scalars(select(ServiceMeasure).where(
        ServiceMeasure.clinic_id == clinic_id, ServiceMeasure.breached_at.is_not(None),
        ServiceMeasure.staff_seen_at.is_(None))
        .order_by(ServiceMeasure.breached_at)).all()
    return _with_requests(session, rows, now)


def _with_requests(session: Session, rows: Sequence[ServiceMeasure],
                   now: datetime) -> list[Breach]:
    ids = [r.id for r in rows]
    asked = {measure_id: request_id for measure_id, request_id in session.execute(
        select(ServiceComplaint.measure_id, ServiceComplaint.id)
        .where(ServiceComplaint.measure_id.in_(ids)))} if ids else {}
    return [_breach(r, now, asked.get(r.id)) for r in rows]


def mark_seen(session: Session, measure_id: int, clinic_id: str, *, by: str,
              now: datetime) -> ServiceMeasure:
    row = session.get(ServiceMeasure, measure_id)
    if row is None or row.clinic_id != clinic_id or row.breached_at is None:
        raise LookupError("no such breach in this clinic")
    if row.staff_seen_at is None:
        row.staff_seen_at, row.staff_seen_by = now, by
    return row


def measure_subject(session: Session, measure_id: int) -> tuple[str, str] | None:
    """(patient id, clinic id) of a measured case, or None."""
    row = session.get(ServiceMeasure, measure_id)
    return (row.patient_id, row.clinic_id) if row else None


# -- formal requests ("force a change") -------------------------------------------------------

def raise_request(session: Session, patient_id: str, *, ask: str, text: str, publish: bool,
                  measure_id: int | None, now: datetime) -> ServiceComplaint:
    """A patient's formal request to her clinic, with a written answer due within the
    agreement's ``request_answer`` days. A breach she names must be hers."""
    if ask not in ASKS:
        raise AgreementError(f"ask is one of {tuple(ASKS)}")
    words = text.strip()
    if not 0 < len(words) <= TEXT_MAX:
        raise AgreementError(f"say what you ask for in 1-{TEXT_MAX} characters")
    clinic_id = clinic_of(session, patient_id)
    if clinic_id is None:
        raise AgreementError("you are not registered with a clinic")
    if measure_id is not None:
        row = session.get(ServiceMeasure, measure_id)
        if row is None or row.patient_id != patient_id or row.breached_at is None:
            raise LookupError("no such breach of yours")
    days = agreement(session, clinic_id, patient_id)["request_answer"]
    complaint = ServiceComplaint(
        id=new_id(), patient_id=patient_id, clinic_id=clinic_id, measure_id=measure_id,
        ask=ask, text=words, publish=publish, state="open", created_at=now,
        respond_by=now + timedelta(days=days))
    session.add(complaint)
    session.flush()
    logger.info("formal request %s raised with clinic %s", complaint.id, clinic_id)
    return complaint


def answer_request(session: Session, request_id: str, clinic_id: str, *, by: str,
                   response: str, now: datetime) -> ServiceComplaint:
    words = response.strip()
    if not 0 < len(words) <= TEXT_MAX:
        raise AgreementError(f"the answer is 1-{TEXT_MAX} characters")
    complaint = session.get(ServiceComplaint, request_id)
    if complaint is None or complaint.clinic_id != clinic_id:
        raise LookupError("no such request in this clinic")
    complaint.response, complaint.responded_by = words, by
    complaint.responded_at, complaint.state = now, "answered"
    return complaint


def requests_of(session: Session, patient_id: str) -> list[ServiceComplaint]:
    return list(session.scalars(select(ServiceComplaint).where(
        ServiceComplaint.patient_id == patient_id)
        .order_by(ServiceComplaint.created_at.desc())))


def clinic_requests(session: Session, clinic_id: str) -> list[ServiceComplaint]:
    """Open requests first (the earliest due first), then answered ones, newest first."""
    rows = session.scalars(select(ServiceComplaint).where(
        ServiceComplaint.clinic_id == clinic_id)).all()
    open_ = sorted((r for r in rows if r.state == "open"), key=lambda r: aware(r.respond_by))
    done = sorted((r for r in rows if r.state != "open"),
                  key=lambda r: aware(r.created_at), reverse=True)
    return [*open_, *done]
