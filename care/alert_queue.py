"""The care team's alert queue: read from the coaching tables, acted on through
care/alerts.py (acknowledge, snooze, resolve), so the ladder stops where the coach
service expects it to. The dashboard's alert pages read and act through this module."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import alerts as care_alerts
from core.appdb.coaching import CoachAlert, CoachNudge, EscalationStep

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3, "positive": 4}
OPEN_STATES = ("open", "snoozed")
SNOOZE_CHOICES = {"30m": timedelta(minutes=30), "2h": timedelta(hours=2), "1d": timedelta(days=1)}
CLINICAL_KINDS = ("clinical_alert", "escalation")


def aware(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were written in UTC."""
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Step:
    step: int
    role: str
    action: str
    by_user: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertItem:
    id: str
    patient_id: str
    patient_name: str
    kind: str
    audience: str
    priority: str
    title: str
    body: str
    why: str
    state: str
    created_at: datetime
    age: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None
    note: str | None
    ladder: tuple[str, ...]
    next_step_at: datetime | None
    next_role: str | None
    steps: tuple[Step, ...]

    @property
    def escalating(self) -> bool:
        return self.state in OPEN_STATES and self.next_step_at is not None


def _age(now: datetime, at: datetime) -> str:
    minutes = max(0, int((now - at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // 1440} days"


def _item(a: CoachAlert, names: dict[str, str], steps: list[EscalationStep],
          now: datetime) -> AlertItem:
    created = aware(a.created_at) or now
    ladder = tuple(a.ladder or ())
    nxt = a.step + 1
    next_at = aware(a.next_step_at)
    return AlertItem(
        id=a.id, patient_id=a.patient_id, patient_name=names.get(a.patient_id, a.patient_id),
        kind=a.kind, audience=a.audience, priority=a.priority, title=a.title, body=a.body,
        why=a.why, state=a.state, created_at=created, age=_age(now, created),
        acknowledged_by=a.acknowledged_by, acknowledged_at=aware(a.acknowledged_at),
        snoozed_until=aware(a.snoozed_until), note=a.note, ladder=ladder,
        next_step_at=next_at,
        next_role=ladder[nxt] if next_at is not None and nxt < len(ladder) else None,
        steps=tuple(Step(s.step, s.role, s.action, s.by_user, aware(s.at) or now)
                    for s in steps))


def queue(engine: Engine, patient_ids: Iterable[str], names: dict[str, str], *, now: datetime,
          kinds: tuple[str, ...] | None = None, include_closed: bool = False,
          limit: int = 200) -> list[AlertItem]:
    """Open (and snoozed) alerts of these patients: most urgent first, then oldest first."""
    ids = list(patient_ids)
    if not ids:
        return []
    with Session(engine) as session:
        query = select(CoachAlert).where(CoachAlert.patient_id.in_(ids))
        if not include_closed:
            query = query.where(CoachAlert.state.in_(OPEN_STATES))
        if kinds is not None:
            query = query.where(CoachAlert.kind.in_(kinds))
        alerts = list(session.scalars(query.order_by(CoachAlert.created_at.desc()).limit(limit)))
        steps: dict[str, list[EscalationStep]] = {}
        if alerts:
            for s in session.scalars(select(EscalationStep)
                                     .where(EscalationStep.alert_id.in_([a.id for a in alerts]))
                                     .order_by(EscalationStep.id)):
                steps.setdefault(s.alert_id, []).append(s)
        items = [_item(a, names, steps.get(a.id, []), now) for a in alerts]
    items.sort(key=lambda i: (i.state != "open", PRIORITY_RANK.get(i.priority, 9), i.created_at))
    return items


def alert_patient(engine: Engine, alert_id: str) -> str | None:
    with Session(engine) as session:
        alert = session.get(CoachAlert, alert_id)
        return alert.patient_id if alert else None


def act(engine: Engine, alert_id: str, action: str, *, by_user: str, role: str, now: datetime,
        note: str | None = None, snooze: str | None = None) -> bool:
    """Acknowledge, snooze or resolve; False when the alert was no longer open."""
    with Session(engine) as session:
        if action == "acknowledge":
            done = care_alerts.acknowledge(session, alert_id, by_user, now, role=role,
                                          note=note or None)
        elif action == "snooze":
            until = now + SNOOZE_CHOICES[snooze or "30m"]
            done = care_alerts.snooze(session, alert_id, until, by_user, now)
        elif action == "resolve":
            done = care_alerts.resolve(session, alert_id, by_user, now, note=note or None)
        else:
            raise ValueError(f"unknown action {action!r}")
        session.commit()
        return done


def version(engine: Engine, patient_ids: Iterable[str]) -> tuple[object, ...]:
    """Changes whenever an alert of these patients opens, moves a step or changes state."""
    ids = list(patient_ids)
    if not ids:
        return ()
    with Session(engine) as session:
        rows = session.execute(
            select(CoachAlert.id, CoachAlert.state, CoachAlert.step)
            .where(CoachAlert.patient_id.in_(ids), CoachAlert.state.in_(OPEN_STATES))
            .order_by(CoachAlert.id)).all()
        return tuple(tuple(r) for r in rows)


@dataclass(frozen=True, slots=True)
class NudgeItem:
    id: str
    title: str
    body: str
    why: str
    priority: str
    at: datetime
    feedback: str | None


def todays_nudges(engine: Engine, patient_id: str, *, since: datetime) -> list[NudgeItem]:
    """The nudges sent to the patient since ``since`` (their local midnight), newest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(CoachNudge)
            .where(CoachNudge.patient_id == patient_id, CoachNudge.status == "sent",
                   CoachNudge.created_at >= since)
            .order_by(CoachNudge.created_at.desc())).all()
        return [NudgeItem(n.id, n.title, n.body, n.why, n.priority,
                          aware(n.sent_at or n.created_at) or since, n.feedback) for n in rows]


def nudge_patient(engine: Engine, nudge_id: str) -> str | None:
    with Session(engine) as session:
        nudge = session.get(CoachNudge, nudge_id)
        return nudge.patient_id if nudge else None


def nudge_feedback(engine: Engine, nudge_id: str, *, useful: bool, by_user: str,
                   now: datetime) -> bool:
    """The patient's answer to a nudge (care/alerts.py record_feedback); False for an
    unknown nudge."""
    with Session(engine) as session:
        done = care_alerts.record_feedback(session, nudge_id, useful=useful, by_user=by_user,
                                           now=now)
        session.commit()
        return done
