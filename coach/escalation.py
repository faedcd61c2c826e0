"""The escalation ladder of an urgent safety alert.

The caregivers the patient opted in to urgent alerts (care partners) hear at once, as
Dexcom Follow's followers do: ``start`` sends each of them the alert on their own channels
at the same moment as the patient (a step-0 "notified" row with role caregiver), and any of
them may acknowledge it (recorded as the caregiver's acknowledgement); the ladder's
caregiver step, 10 minutes on, is then the reminder that nobody has yet (issue 20).

patient -> caregiver (only if the patient opted one in) -> advocate (care/advocates.py:
only when named and not on the ladder already; a caregiver advocate only with the
patient's opt-in to urgent alerts) -> coach -> nurse, one step
after another at the patient's configured intervals (coach/policy.py), until someone
acknowledges. One acknowledgement stops the ladder. Every step (notified, acknowledged,
snoozed, resolved, exhausted) is a row in coach_escalation_steps.

``advance(session, now)`` is what the scheduler's escalation timer calls, as often as
it likes (every minute is plenty): it only takes the steps that are due. The caller
commits the session and then delivers the returned messages.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.alerts import OPEN, record_step
from care.messages import Outbound
from coach.policy import Policy, load_policy, recipient_for
from coach.rules.base import FlagRequest
from core.appdb.accounts import CaregiverShare
from core.appdb.coaching import CoachAlert, new_id
from core.appdb.outreach import Advocate
from core.i18n import N_, say

logger = logging.getLogger(__name__)



def start(
    session: Session, policy: Policy, flag: FlagRequest, flag_id: str | None, now: datetime
) -> list[Outbound]:
    """Open an urgent alert with its ladder and take the first step (to the patient) now."""
    policy = with_advocate(session, with_caregiver(session, policy))
    alert = CoachAlert(
        id=new_id(), patient_id=policy.patient_id, flag_id=flag_id, flag_type=flag.flag_type,
        group=flag.group, kind="escalation", audience="coach", priority="urgent",
        title=flag.title, body=flag.explanation, why=flag.why or flag.explanation,
        evidence=flag.evidence,
        state="open", created_at=now, ladder=policy.ladder(), step=-1, next_step_at=now,
    )
    session.add(alert)
    session.flush()
    first = _step(session, alert, policy, now)
    return first + _care_partners(session, alert, policy, now)


def care_partners(session: Session, policy: Policy) -> list[str]:
    """Every caregiver who hears the patient's urgent alerts at once: the coaching
    preference's caregiver and each one she opted in to urgent alerts on her sharing page."""
    ids = set(session.scalars(select(CaregiverShare.caregiver_id).where(
        CaregiverShare.patient_id == policy.patient_id, CaregiverShare.urgent_alerts.is_(True))))
    if policy.caregiver_id:
        ids.add(policy.caregiver_id)
    return sorted(ids)


def _care_partners(session: Session, alert: CoachAlert, policy: Policy,
                   now: datetime) -> list[Outbound]:
    """The alert to each care partner now, beside the patient's step; its own reference
    (``<alert>:partner``), so the ladder's later caregiver step still reaches them."""
    out = []
    for cid in care_partners(session, policy):
        record_step(session, alert, 0, "caregiver", cid, "notified", now)
        message = _message(alert, "caregiver", cid, 0, now, policy)
        out.append(replace(message, ref=f"{alert.id}:partner"))
    if out:
        logger.info("alert %s sent to %d care partner(s) at once", alert.id, len(out))
    return out


def advance(session: Session, now: datetime) -> list[Outbound]:
    """Take every ladder step that is due by ``now``, for every patient."""
    due = session.scalars(
        select(CoachAlert)
        .where(CoachAlert.state.in_(OPEN), CoachAlert.next_step_at.is_not(None),
               CoachAlert.next_step_at <= now)
        .order_by(CoachAlert.next_step_at)
    ).all()
    out: list[Outbound] = []
    policies: dict[str, Policy] = {}
    for alert in due:
        policy = policies.get(alert.patient_id) or with_advocate(session, with_caregiver(
            session, load_policy(session, alert.patient_id)))
        policies[alert.patient_id] = policy
        if alert.state == "snoozed":
            alert.state = "open"
            record_step(session, alert, alert.step, "system", None, "unsnoozed", now)
        out.extend(_step(session, alert, policy, now))
    session.flush()
    return out


def with_caregiver(session: Session, policy: Policy) -> Policy:
    """The caregiver on the ladder: the coaching preference, else the one the patient opted
    in to urgent alerts on the sharing page (core/appdb/accounts.py CaregiverShare)."""
    if policy.caregiver_id:
        return policy
    chosen = session.scalar(
        select(CaregiverShare.caregiver_id)
        .where(CaregiverShare.patient_id == policy.patient_id,
               CaregiverShare.urgent_alerts.is_(True))
        .order_by(CaregiverShare.created_at)
        .limit(1)
    )
    return replace(policy, caregiver_id=chosen) if chosen else policy


def with_advocate(session: Session, policy: Policy) -> Policy:
    """The patient's advocate on the ladder, unless they are on it already (the caregiver
    step, the coach who takes the coach step). A caregiver advocate needs the patient's
    opt-in to urgent alerts (caregiver_shares.urgent_alerts): her consent decides who
    hears about her urgent alerts, and only those may acknowledge them."""
    row = session.get(Advocate, policy.patient_id)
    if row is None or row.advocate_id == policy.caregiver_id:
        return policy
    if row.advocate_role == "coach":
        if row.advocate_id == recipient_for(session, policy, "coach"):
            return policy
    else:
        share = session.get(CaregiverShare, (policy.patient_id, row.advocate_id))
        if share is None or not share.urgent_alerts:
            return policy
    return replace(policy, advocate_id=row.advocate_id, advocate_role=row.advocate_role)


def _step(session: Session, alert: CoachAlert, policy: Policy, now: datetime) -> list[Outbound]:
    ladder = list(alert.ladder)
    index = alert.step + 1
    if index >= len(ladder):
        alert.next_step_at = None
        record_step(session, alert, index, "none", None, "exhausted", now)
        return []
    role = ladder[index]
    # No coach or nurse in the preferences: the patient's care team takes the step
    # (coach/policy.py care_team_member) rather than a message to nobody.
    recipient = recipient_for(session, policy, role)
    alert.step = index
    last = index == len(ladder) - 1
    alert.next_step_at = None if last else now + policy.wait_after(role)
    record_step(session, alert, index, role, recipient, "notified", now)
    logger.info("alert %s escalation step %d to %s", alert.id, index, role)
    return [_message(alert, role, recipient, index, now, policy)]


def _message(alert: CoachAlert, role: str, recipient: str | None, index: int,
             now: datetime, policy: Policy) -> Outbound:
    # the advocate is reached as the person their account is (a coach or a caregiver)
    to_role = (policy.advocate_role or "coach") if role == "advocate" else role
    if role == "patient":
        body = say("{message} Press OK when you have seen this.", message=alert.body)
        why = alert.why
    else:
        whom = {"caregiver": N_("the person you care for"),
                "advocate": N_("the person you are the advocate for")}.get(
                    role, N_("your patient"))
        step = say("{message} Urgent safety alert: step {step} of {ladder}.",
                   message=alert.why, step=index + 1, ladder=" -> ".join(alert.ladder))
        if index == 0:
            body = say("Urgent, for {whom}: {message}", whom=whom, message=alert.body)
            why = step
        else:
            body = say("Urgent, for {whom}: {message} Nobody has acknowledged it yet.", whom=whom,
                       message=alert.body)
            why = say("{message} Nobody has acknowledged it yet.", message=step)
    return Outbound(
        kind="escalation", patient_id=alert.patient_id,
        recipient_role=to_role,  # type: ignore[arg-type]
        recipient_id=recipient, flag_type=alert.flag_type, priority="urgent",
        title=alert.title, body=body, why=why,
        evidence={**alert.evidence, "alert_id": alert.id, "step": index,
                  "ladder": list(alert.ladder)},
        created_at=now, ref=alert.id,
    )


