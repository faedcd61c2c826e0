"""Outreach, advocates and the caregiver's people over the application database, one
transaction each, as the dashboard's outreach, team and caring pages use them (the rules
are care/outreach.py and care/advocates.py, which take a session and never commit). Who
may call what is decided by dashboard/security.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care import advocates, outreach
from core.appdb import engagement as states
from core.appdb.accounts import CaregiverShare, CareTeamMember, CareTeamPatient, User
from core.appdb.coaching import CoachAlert
from core.appdb.delivery import InboxMessage


def _candidates(session: Session, patient_id: str) -> list[tuple[str, str, str]]:
    """(id, name, role) of who may be named advocate: the care team's coaches and the
    caregivers the patient shares with."""
    coaches = session.execute(
        select(User.id, User.display_name, User.role)
        .join(CareTeamMember, CareTeamMember.user_id == User.id)
        .join(CareTeamPatient, CareTeamPatient.team_id == CareTeamMember.team_id)
        .where(CareTeamPatient.patient_id == patient_id, User.role == "coach",
               User.active.is_(True))).all()
    carers = session.execute(
        select(User.id, User.display_name, User.role)
        .join(CaregiverShare, CaregiverShare.caregiver_id == User.id)
        .where(CaregiverShare.patient_id == patient_id, User.active.is_(True))).all()
    return sorted({(str(i), str(n), str(r)) for i, n, r in [*coaches, *carers]})


@dataclass(frozen=True, slots=True)
class CaredFor:
    """What the caregiver's page shows of the people they care for (detached rows)."""

    engagement: dict[str, states.StateRow]
    urgent: set[str]  # patients whose urgent alerts this caregiver receives
    alerts: dict[str, list[CoachAlert]]  # open and snoozed safety alerts, oldest first
    advocate_for: set[str]
    told: dict[str, list[InboxMessage]]  # safety messages without a ladder, not yet seen


class OutreachStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def needs_outreach(self, patient_ids: Sequence[str], *, now: datetime,
                       risk: Callable[[], dict[str, int]]) -> list[outreach.OutreachItem]:
        """The bucket, ordered by ``risk`` (asked for only when someone needs outreach)."""
        with Session(self._engine) as session:
            items = outreach.needs_outreach(session, list(patient_ids), now=now)
            if items:
                items = outreach.needs_outreach(session, list(patient_ids), now=now,
                                                risk=risk())
            return items

    def patient(self, patient_id: str) -> dict[str, Any]:
        """The patient's outreach page: engagement history, contacts, the open task, the
        advocate and who may be named one."""
        with Session(self._engine) as session:
            return {"history": states.history(session, patient_id, limit=30),
                    "records": outreach.contacts(session, patient_id),
                    "task": outreach.open_tasks(session, [patient_id]).get(patient_id),
                    "advocate": advocates.advocate_of(session, patient_id),
                    "candidates": _candidates(session, patient_id)}

    def record_contact(self, **contact: Any) -> None:
        """care/outreach.py record_contact's arguments (ValueError with the reason)."""
        with Session(self._engine) as session:
            outreach.record_contact(session, **contact)
            session.commit()

    def name_advocate(self, patient_id: str, advocate_id: str, *, reason: str, by: str,
                      now: datetime) -> None:
        with Session(self._engine) as session:
            advocates.name_advocate(session, patient_id, advocate_id, reason=reason, by=by,
                                    now=now)
            session.commit()

    def team(self, patient_id: str, now: datetime, *, messages: bool
             ) -> tuple[list[advocates.Activity], advocates.AdvocateInfo | None,
                        states.StateRow | None]:
        """(what the team did, the advocate, the latest engagement state)."""
        with Session(self._engine) as session:
            activity = advocates.team_activity(session, patient_id, now, messages=messages)
            advocate = advocates.advocate_of(session, patient_id)
            latest = states.latest_states(session, [patient_id]).get(patient_id)
            return activity, advocate, latest

    def cared_for(self, caregiver_id: str, patient_ids: list[str]) -> CaredFor:
        with Session(self._engine) as session:
            latest = states.latest_states(session, patient_ids)
            urgent = {pid for pid, in session.execute(
                select(CaregiverShare.patient_id).where(
                    CaregiverShare.caregiver_id == caregiver_id,
                    CaregiverShare.urgent_alerts.is_(True)))}
            alerts: dict[str, list[CoachAlert]] = {}
            for a in session.scalars(select(CoachAlert).where(
                    CoachAlert.patient_id.in_(patient_ids), CoachAlert.kind == "escalation",
                    CoachAlert.state.in_(("open", "snoozed"))).order_by(CoachAlert.created_at)):
                alerts.setdefault(a.patient_id, []).append(a)
            mine = set(advocates.advocated_by(session, caregiver_id))
            # safety messages without a ladder sent to this caregiver (the heart-failure
            # gain): their own OK marks them seen
            told: dict[str, list[InboxMessage]] = {}
            for m in session.scalars(select(InboxMessage).where(
                    InboxMessage.recipient_key == caregiver_id,
                    InboxMessage.recipient_role == "caregiver",
                    InboxMessage.kind == "alert", InboxMessage.read_at.is_(None),
                    InboxMessage.patient_id.in_(patient_ids)).order_by(InboxMessage.created_at)):
                told.setdefault(m.patient_id, []).append(m)
            session.expunge_all()
        return CaredFor(latest, urgent, alerts, mine, told)

    def mark_seen(self, message_id: int, recipient_key: str, now: datetime) -> bool:
        """The recipient's own OK on a message sent to them; False if there is no such
        message for them."""
        with Session(self._engine) as session:
            message = session.get(InboxMessage, message_id)
            if message is None or message.recipient_key != recipient_key:
                return False
            if message.read_at is None:
                message.read_at = now
            session.commit()
            return True
