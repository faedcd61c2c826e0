"""Outreach by a person to those who need it first (issue 20).

A person who is disengaged (care/engagement.py) gets a human task instead of more
automatic nudges: the coach's dispatcher holds back their motivational nudges and calls
``hold_nudge``, which opens (or adds to) the patient's one open outreach task. The daily
engagement job opens one for everyone newly disengaged (``open_for_disengaged``).

Whoever contacts the person records it (``record_contact``: who contacted whom, how,
the outcome, the next step and its due date). That closes the loop: a contact that
reached the person with no next step closes the task; any other outcome keeps it open,
due again at the next step's date (or the task's usual delay when none is given).

``needs_outreach`` is the bucket the nurse's triage and the coach's queue show: every
patient with an open task or recorded disengaged, ordered by clinical risk (the nurse
triage level, 0-3, of dashboard/views/triage.py, handed in by the caller) times
disengagement (the engagement score, 0-1): a person with rising blood pressure who
stopped measuring comes before a well-controlled one who did.

Functions take a session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.appdb import engagement as states
from core.appdb.coaching import new_id
from core.appdb.outreach import METHODS, OUTCOMES, OutreachContact, OutreachTask
from core.clock import aware

log = logging.getLogger(__name__)

DEFAULT_DUE = timedelta(hours=48)  # care/engagement.py EngagementSettings.outreach_due_hours
# After a contact, no new task and no place in the outreach list for this long: the loop
# was closed; a person still disengaged a week later comes back (Hearth's choice).
RECONTACT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class OutreachItem:
    patient_id: str
    state: str  # engagement state ("unknown": never evaluated)
    score: float
    evidence: tuple[str, ...]
    risk_level: int
    priority: float
    task_id: str | None
    reason: str
    due_at: datetime | None
    overdue: bool
    held_nudges: int


@dataclass(frozen=True, slots=True)
class ContactRecord:
    id: int
    task_id: str | None
    patient_id: str
    by_name: str
    by_role: str
    contacted: str
    method: str
    outcome: str
    note: str
    next_step: str
    next_due: date | None
    at: datetime


def open_task(session: Session, patient_id: str, *, reason: str, by: str, now: datetime,
              due: timedelta = DEFAULT_DUE) -> OutreachTask:
    """The patient's open task, or a new one (one open task per patient)."""
    task = session.scalar(select(OutreachTask).where(
        OutreachTask.patient_id == patient_id, OutreachTask.state == "open"))
    if task is None:
        task = OutreachTask(id=new_id(), patient_id=patient_id, reason=reason, opened_by=by,
                            state="open", created_at=now, due_at=now + due, held_nudges=0)
        session.add(task)
        session.flush()
        log.info("outreach task %s opened by %s", task.id, by)
    return task


def contacted_since(session: Session, patient_id: str, since: datetime) -> bool:
    return session.scalar(select(OutreachContact.id).where(
        OutreachContact.patient_id == patient_id, OutreachContact.at >= since).limit(1)) \
        is not None


def hold_nudge(session: Session, patient_id: str, *, evidence: Iterable[str], now: datetime,
               due: timedelta = DEFAULT_DUE,
               recontact: timedelta = RECONTACT) -> OutreachTask | None:
    """A motivational nudge was held back from a disengaged person: a person calls instead
    (their open task, or a new one; none while a contact of the last ``recontact`` closed
    the loop)."""
    words = " ".join(evidence)
    task = open_tasks(session, [patient_id]).get(patient_id)
    if task is None:
        if contacted_since(session, patient_id, now - recontact):
            return None
        task = open_task(session, patient_id, reason=f"Disengaged: {words}".strip(),
                         by="system", now=now, due=due)
    task.held_nudges = (task.held_nudges or 0) + 1
    return task


def open_for_disengaged(session: Session, patient_ids: Iterable[str], now: datetime,
                        due: Mapping[str, timedelta] | None = None,
                        recontact: timedelta = RECONTACT) -> list[str]:
    """Open a task for each of these (disengaged) patients that has none and was not
    contacted in the last ``recontact``; their ids."""
    opened = []
    for pid in patient_ids:
        had = session.scalar(select(OutreachTask.id).where(
            OutreachTask.patient_id == pid, OutreachTask.state == "open"))
        if had is None and not contacted_since(session, pid, now - recontact):
            latest = states.latest_states(session, [pid]).get(pid)
            reason = "Disengaged: " + " ".join(latest.evidence) if latest else "Disengaged."
            open_task(session, pid, reason=reason, by="system", now=now,
                      due=(due or {}).get(pid, DEFAULT_DUE))
            opened.append(pid)
    return opened


def record_contact(session: Session, *, patient_id: str, by_user: str, by_name: str,
                   by_role: str, contacted: str, method: str, outcome: str, now: datetime,
                   note: str = "", next_step: str = "", next_due: date | None = None,
                   tz: str = "UTC") -> ContactRecord:
    """Record a contact and close the loop on the patient's open task (if any)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if not contacted.strip():
        raise ValueError("say whom you contacted")
    if next_due is not None and next_due < now.date() - timedelta(days=1):
        raise ValueError("the next step's date is in the past")
    task = session.scalar(select(OutreachTask).where(
        OutreachTask.patient_id == patient_id, OutreachTask.state == "open"))
    row = OutreachContact(task_id=task.id if task else None, patient_id=patient_id,
                          by_user=by_user, by_name=by_name, by_role=by_role,
                          contacted=contacted.strip(), method=method, outcome=outcome,
                          note=note.strip(), next_step=next_step.strip(), next_due=next_due,
                          at=now)
    session.add(row)
    if task is not None:
        if task.first_contact_at is None:
            task.first_contact_at = now
        if outcome == "reached" and not next_step.strip():
            task.state, task.closed_at, task.closed_by = "done", now, by_user
        elif next_due is not None:
            from zoneinfo import ZoneInfo

            task.due_at = datetime.combine(next_due, time(9), ZoneInfo(tz)).astimezone(UTC)
        else:
            task.due_at = now + DEFAULT_DUE
    elif next_step.strip():  # a planned next step with nobody's task: keep it on the list
        from zoneinfo import ZoneInfo

        at = (datetime.combine(next_due, time(9), ZoneInfo(tz)).astimezone(UTC)
              if next_due else now + DEFAULT_DUE)
        opened = open_task(session, patient_id, reason=f"Next step: {next_step.strip()}",
                           by=by_user, now=now, due=at - now)
        opened.first_contact_at = now
        row.task_id = opened.id
    session.flush()
    return _contact(row)


def _contact(r: OutreachContact) -> ContactRecord:
    return ContactRecord(r.id, r.task_id, r.patient_id, r.by_name, r.by_role, r.contacted,
                         r.method, r.outcome, r.note, r.next_step, r.next_due, aware(r.at))


def contacts(session: Session, patient_id: str, *, limit: int = 50) -> list[ContactRecord]:
    """A patient's recorded contacts, newest first."""
    return [_contact(r) for r in session.scalars(
        select(OutreachContact).where(OutreachContact.patient_id == patient_id)
        .order_by(OutreachContact.at.desc(), OutreachContact.id.desc()).limit(limit))]


def open_tasks(session: Session, patient_ids: Iterable[str]) -> dict[str, OutreachTask]:
    ids = list(dict.fromkeys(patient_ids))
    found: dict[str, OutreachTask] = {}
    for k in range(0, len(ids), 500):
        for t in session.scalars(select(OutreachTask).where(
                OutreachTask.patient_id.in_(ids[k:k + 500]), OutreachTask.state == "open")):
            found[t.patient_id] = t
    return found


def needs_outreach(session: Session, patient_ids: Iterable[str], *, now: datetime,
                   risk: Mapping[str, int] | None = None,
                   recontact: timedelta = RECONTACT) -> list[OutreachItem]:
    """The outreach bucket: open tasks, and disengaged people not contacted in the last
    ``recontact`` (the loop closed), most needed first."""
    ids = list(dict.fromkeys(patient_ids))
    latest = states.latest_states(session, ids)
    tasks = open_tasks(session, ids)
    recent: set[str] = set()
    for k in range(0, len(ids), 500):
        recent.update(session.scalars(select(OutreachContact.patient_id).where(
            OutreachContact.patient_id.in_(ids[k:k + 500]),
            OutreachContact.at >= now - recontact)))
    risk = risk or {}
    items = []
    for pid in ids:
        st, task = latest.get(pid), tasks.get(pid)
        if task is None and (st is None or st.state != "disengaged" or pid in recent):
            continue
        score = st.score if st else 0.0
        level = int(risk.get(pid, 0))
        due = aware(task.due_at) if task else None
        items.append(OutreachItem(
            patient_id=pid, state=st.state if st else "unknown", score=score,
            evidence=st.evidence if st else (), risk_level=level,
            # a task with no recorded state still ranks (by its risk) above nobody
            priority=round((level + 1) * max(score, 0.05), 4), task_id=task.id if task else None,
            reason=task.reason if task else "Disengaged.", due_at=due,
            overdue=bool(due and due <= now), held_nudges=task.held_nudges if task else 0))
    items.sort(key=lambda i: (-i.priority, -i.risk_level, i.due_at or now, i.patient_id))
    return items
