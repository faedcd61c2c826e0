"""The dispatcher: flags -> nudges to the patient, alerts to the coach, clinical alerts to
the nurse, within the patient's attention policy (coach/policy.py).

Safety flags first (coach/safety.py: lows, predicted lows, fast falls, signal loss while
low, BP crisis, low oxygen, rapid heart-failure weight gain, no movement at home): they
reach the patient live, at any hour, whatever the budget, and are sent once per episode
(the same flag type with the same ``key``; coach/episodes.py). An urgent one opens an
escalation ladder (coach/escalation.py) for its episode: a new episode opens a new ladder
even while an older one is still open or snoozed, and the ladder of the same episode is
never started twice.

Motivational flags, in order (docs/STYLE.md): de-duplicate (one request per flag group,
the most important), cool-down (no repeat of the same finding, no same-or-lower message
in a group within its cool-down), "not useful" feedback (lowers that flag type for the
person), then routing: high: a nudge (live within quiet hours and budget, else the
digest) and an alert to the coach; normal: a nudge (live or digest); low: the digest;
positive: one live a day outside quiet hours, the rest in the digest.

A person recorded *disengaged* (care/engagement.py, the daily engagement job) gets no
automatic motivational message (more messages to someone who has stopped reading them is
noise): the flag is recorded as "held", the coach's and nurse's alerts go out as usual,
and the patient's one open outreach task gets the held nudge (care/outreach.py
``hold_nudge``): a person contacts them instead. Safety messages are never held.

The heart-failure rapid gain (a safety message without a ladder) also reaches every
caregiver the patient opted in to urgent alerts, on their own channels; the urgent ones
reach them at once too, beside the patient's first step, and again as the caregiver step
of their ladder while nobody has acknowledged (coach/escalation.py).

Clinical requests (non-urgent) also open a clinical alert for the nurse. Alerts to the
coach are grouped: a finding of a group that already has a coach alert from the last
7 days is added to it (its count and times), not a new alert (docs/COACH.md "Alert
burden").

Everything is recorded (flags, nudges, alerts, cool-downs) in the caller's session; the
caller commits and then hands the returned ``Outbound`` messages to delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from care import outreach
from care.messages import Outbound
from coach import escalation
from coach.policy import (
    FEEDBACK_WINDOW,
    MAX_DEMOTION,
    POSITIVE_LIVE_PER_DAY,
    SEVERITY_RANK,
    Policy,
    care_teams,
    load_policies,
    load_policy,
    recipient_for,
)
from coach.rules.base import FlagRequest
from coach.safety import FLAG_CLASSES
from core.appdb import engagement as engagement_rows
from core.appdb.coaching import CoachAlert, CoachCooldown, CoachFlag, CoachNudge, new_id
from core.clock import aware
from core.i18n import N_, say

logger = logging.getLogger(__name__)

DEMOTE = {"high": "normal", "normal": "low", "low": "low"}
SAFETY_TYPES = tuple(t for t, c in FLAG_CLASSES.items() if c == "safety")
# How long a safety message's episode is remembered (no episode lasts longer; a weigh-in
# day's key changes daily), and the window in which a coach's or nurse's alerts of one
# group are one alert with a count (docs/COACH.md "Alert burden").
SAFETY_MEMORY = timedelta(days=2)
ALERT_GROUPING = timedelta(days=7)
# A recorded "disengaged" holds nudges back while it is this recent (the daily job renews
# it; an older record is not evidence about today).
ENGAGEMENT_FRESH = timedelta(days=2)
# Safety messages without a ladder that opted-in caregivers also receive (issue 20: urgent
# low, BP crisis and SpO2 urgent reach them through the ladder, at its start).
CAREGIVER_COPIES = ("hf_weight_gain",)


def level(flag: FlagRequest) -> int:
    """Lower is more important; a full urgent alert outranks a patient-only urgent nudge."""
    return SEVERITY_RANK[flag.severity.value] * 2 + (1 if flag.patient_only else 0)


def dedupe(flags: Iterable[FlagRequest]) -> list[FlagRequest]:
    """One request per flag group: the most important (the first of equals)."""
    best: dict[str, FlagRequest] = {}
    for flag in flags:
        kept = best.get(flag.group)
        if kept is None or level(flag) < level(kept):
            best[flag.group] = flag
    return sorted(best.values(), key=level)


class DispatchState:
    """What the dispatcher asks the database about a set of patients, read once.

    Cool-downs, open ladders, "not useful" answers (last 90 days) and the nudges sent
    since the earliest local midnight of the day: four queries for a whole chunk of the
    scheduled cycle instead of a handful per flag. The dispatcher keeps it current as it
    records (a nudge sent now counts against the budget of the next flag), so one state
    serves every ``dispatch`` of its patients in one session. Only valid within that
    session's transaction."""

    def __init__(self, session: Session, patient_ids: Iterable[str], now: datetime) -> None:
        ids = self._ids = list(dict.fromkeys(patient_ids))
        self._teams: dict[tuple[str, str], str] | None = None
        self.cooldowns: dict[tuple[str, str], CoachCooldown] = {}
        # (patient, group) -> the episode keys of its open or snoozed ladders
        self.ladders: dict[tuple[str, str], set[str]] = {}
        self.safety_sent: set[tuple[str, str, str]] = set()  # (patient, flag type, key)
        self.grouped: dict[tuple[str, str, str], CoachAlert] = {}  # (patient, group, kind)
        self.feedback: dict[tuple[str, str], int] = {}
        self.sent: dict[str, list[tuple[datetime, bool, bool]]] = {}  # (at, budget, positive)
        # patient -> the evidence of a recent "disengaged" record (care/engagement.py)
        self.disengaged: dict[str, tuple[str, ...]] = {}
        since = now - timedelta(days=2)  # covers every time zone's local midnight
        for pid, recorded in engagement_rows.latest_states(session, ids).items():
            if recorded.state == "disengaged" and now - recorded.computed_at <= ENGAGEMENT_FRESH:
                self.disengaged[pid] = recorded.evidence
        for k in range(0, len(ids), 500):
            part = ids[k:k + 500]
            for row in session.scalars(select(CoachCooldown).where(
                    CoachCooldown.patient_id.in_(part))):
                self.cooldowns[(row.patient_id, row.group)] = row
            for pid, group, key in session.execute(
                    select(CoachAlert.patient_id, CoachAlert.group, CoachFlag.key)
                    .outerjoin(CoachFlag, CoachFlag.id == CoachAlert.flag_id)
                    .where(CoachAlert.patient_id.in_(part), CoachAlert.kind == "escalation",
                           CoachAlert.state.in_(("open", "snoozed")))):
                self.ladders.setdefault((pid, group), set()).add(key or "")
            self.safety_sent.update((pid, t, key or "") for pid, t, key in session.execute(
                select(CoachFlag.patient_id, CoachFlag.flag_type, CoachFlag.key)
                .where(CoachFlag.patient_id.in_(part), CoachFlag.flag_type.in_(SAFETY_TYPES),
                       CoachFlag.created_at >= now - SAFETY_MEMORY)))
            for alert in session.scalars(
                    select(CoachAlert)
                    .where(CoachAlert.patient_id.in_(part),
                           CoachAlert.kind.in_(("alert", "clinical_alert")),
                           CoachAlert.created_at >= now - ALERT_GROUPING)
                    .order_by(CoachAlert.created_at)):
                self.grouped[(alert.patient_id, alert.group, alert.kind)] = alert
            for pid, flag_type, n in session.execute(
                    select(CoachNudge.patient_id, CoachNudge.flag_type, func.count())
                    .where(CoachNudge.patient_id.in_(part),
                           CoachNudge.feedback == "not_useful",
                           CoachNudge.feedback_at >= now - FEEDBACK_WINDOW)
                    .group_by(CoachNudge.patient_id, CoachNudge.flag_type)):
                self.feedback[(pid, flag_type)] = int(n)
            for pid, at, budget, kind, status in session.execute(
                    select(CoachNudge.patient_id, CoachNudge.sent_at,
                           CoachNudge.counts_to_budget, CoachNudge.kind, CoachNudge.status)
                    .where(CoachNudge.patient_id.in_(part), CoachNudge.sent_at >= since)
            ):
                if at is not None:  # sent_at >= since: always set; the type says otherwise
                    self.note_sent(pid, aware(at), bool(budget),
                                   kind == "positive" and status == "sent")

    def recipient(self, session: Session, policy: Policy, role: str) -> str | None:
        """The coach or nurse for an alert: the preferences, else the care team (read for
        all of this state's patients at the first alert that needs it)."""
        if self._teams is None and not policy.recipient(role):
            self._teams = care_teams(session, self._ids)
        return recipient_for(session, policy, role, self._teams)

    def note_sent(self, patient_id: str, at: datetime, budget: bool, positive: bool) -> None:
        self.sent.setdefault(patient_id, []).append((at, budget, positive))

    def budget_used(self, patient_id: str, since: datetime) -> int:
        return sum(1 for at, budget, _ in self.sent.get(patient_id, ()) if budget and at >= since)

    def positives_sent(self, patient_id: str, since: datetime) -> int:
        return sum(1 for at, _, pos in self.sent.get(patient_id, ()) if pos and at >= since)


def dispatch(
    session: Session,
    patient_id: str,
    flags: Iterable[FlagRequest],
    now: datetime,
    *,
    policy: Policy | None = None,
    state: DispatchState | None = None,
) -> list[Outbound]:
    """Apply the policy to one patient's flags; record everything; return what to deliver.

    ``state``: read once for many patients (``DispatchState``); the rows are then
    flushed by the caller's commit, not here."""
    policy = policy or load_policy(session, patient_id)
    own = state is None
    st = state if state is not None else DispatchState(session, [patient_id], now)
    out: list[Outbound] = []
    for flag in dedupe(flags):
        if flag.safety:
            # Once per episode; while the most important of its group (the urgent alert)
            # is still being raised, the lesser ones of the group wait (a low's treatment
            # advice comes when glucose is back above 54 but the low goes on).
            if not _sent_for_episode(st, patient_id, flag):
                out.extend(_route_safety(session, st, policy, flag, now))
        elif _cooling_down(st, policy, flag, now):
            continue
        elif patient_id in st.disengaged:
            out.extend(_hold(session, st, policy, flag, now))
        else:
            out.extend(_route(session, st, policy, flag, now))
        _remember(session, st, patient_id, flag, now)
    if own:
        session.flush()
    return out


def _sent_for_episode(st: DispatchState, patient_id: str, flag: FlagRequest) -> bool:
    """This flag type was already sent for this episode, or (urgent) its ladder runs."""
    if (patient_id, flag.flag_type, flag.key) in st.safety_sent:
        return True
    return (flag.severity.value == "urgent" and not flag.patient_only
            and flag.key in st.ladders.get((patient_id, flag.group), ()))


def _cooling_down(st: DispatchState, policy: Policy, flag: FlagRequest, now: datetime) -> bool:
    row = st.cooldowns.get((policy.patient_id, flag.group))
    if row is None:
        return False
    if flag.key and flag.key == row.last_key:
        return True  # the same finding: never twice
    within = now - aware(row.last_sent_at) < policy.cooldown(flag.group, flag.severity.value)
    return within and level(flag) >= row.last_level


def _remember(session: Session, st: DispatchState, patient_id: str, flag: FlagRequest,
              now: datetime) -> None:
    row = st.cooldowns.get((patient_id, flag.group))
    if row is None:
        row = CoachCooldown(patient_id=patient_id, group=flag.group, last_level=level(flag),
                            last_sent_at=now)
        session.add(row)
        st.cooldowns[(patient_id, flag.group)] = row
    row.last_key, row.last_level, row.last_sent_at = flag.key, level(flag), now


def _record_flag(session: Session, patient_id: str, flag: FlagRequest, outcome: str,
                 now: datetime) -> CoachFlag:
    # The id is made here, so the nudge and alert rows can refer to it before any flush
    # (the unit of work inserts flags before the rows that point at them).
    row = CoachFlag(
        id=new_id(), patient_id=patient_id, flag_type=flag.flag_type, group=flag.group,
        key=flag.key, severity=flag.severity.value, path=flag.path,
        explanation=flag.explanation, evidence=flag.evidence, outcome=outcome, created_at=now,
    )
    session.add(row)
    return row


def _route_safety(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
                  now: datetime) -> list[Outbound]:
    """Live to the patient now, whatever the hour, budget, cool-down or feedback; urgent
    ones with a ladder for their episode."""
    pid, severity = policy.patient_id, flag.severity.value
    st.safety_sent.add((pid, flag.flag_type, flag.key))
    if severity == "urgent" and not flag.patient_only:
        row = _record_flag(session, pid, flag, "escalated", now)
        st.ladders.setdefault((pid, flag.group), set()).add(flag.key)
        return escalation.start(session, policy, flag, row.id, now)
    to_coach = not flag.patient_only and severity in ("urgent", "high")
    to_nurse = not flag.patient_only and flag.clinical
    outcome = "sent" + ("+coach" if to_coach else "") + ("+nurse" if to_nurse else "")
    row = _record_flag(session, pid, flag, outcome, now)
    priority = "urgent" if severity == "urgent" else severity
    out = [_nudge(session, st, policy, flag, row, priority, "sent", now, budget=False)]
    if not flag.patient_only and flag.flag_type in CAREGIVER_COPIES:
        out.extend(_caregiver_copies(session, policy, flag, row, now))
    if to_coach:
        out.extend(_alert(session, st, policy, flag, row, "alert", "coach", now))
    if to_nurse:
        out.extend(_alert(session, st, policy, flag, row, "clinical_alert", "nurse", now))
    return out


def _route(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
           now: datetime) -> list[Outbound]:
    severity = flag.severity.value
    if severity == "positive":
        return _positive(session, st, policy, flag, now)
    effective = _after_feedback(st, policy.patient_id, flag.flag_type, severity)
    live = effective != "low" and not policy.in_quiet_hours(now) and (
        st.budget_used(policy.patient_id, policy.day_start(now)) < policy.daily_budget)
    to_coach = not flag.patient_only and severity == "high"
    to_nurse = not flag.patient_only and flag.clinical
    outcome = ("sent" if live else "queued") + ("+coach" if to_coach else "") + (
        "+nurse" if to_nurse else "")
    row = _record_flag(session, policy.patient_id, flag, outcome, now)
    out: list[Outbound] = []
    nudge = _nudge(session, st, policy, flag, row, effective, "sent" if live else "queued", now)
    if live:
        out.append(nudge)
    if to_coach:
        out.extend(_alert(session, st, policy, flag, row, "alert", "coach", now))
    if to_nurse:
        out.extend(_alert(session, st, policy, flag, row, "clinical_alert", "nurse", now))
    return out


def _hold(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
          now: datetime) -> list[Outbound]:
    """A motivational flag for a disengaged person: no nudge; the care team's alerts as
    usual; the held nudge goes to the patient's outreach task (a person calls instead)."""
    to_coach = not flag.patient_only and flag.severity.value == "high"
    to_nurse = not flag.patient_only and flag.clinical
    outcome = "held" + ("+coach" if to_coach else "") + ("+nurse" if to_nurse else "")
    row = _record_flag(session, policy.patient_id, flag, outcome, now)
    outreach.hold_nudge(session, policy.patient_id, evidence=st.disengaged[policy.patient_id],
                        now=now)
    out: list[Outbound] = []
    if to_coach:
        out.extend(_alert(session, st, policy, flag, row, "alert", "coach", now))
    if to_nurse:
        out.extend(_alert(session, st, policy, flag, row, "clinical_alert", "nurse", now))
    return out


def _caregiver_copies(session: Session, policy: Policy, flag: FlagRequest, row: CoachFlag,
                      now: datetime) -> list[Outbound]:
    """The safety message to each caregiver opted in to the patient's urgent alerts."""
    ids = escalation.care_partners(session, policy)
    return [Outbound(
        kind="alert", patient_id=policy.patient_id, recipient_role="caregiver",
        recipient_id=cid, flag_type=flag.flag_type, priority="high", title=flag.title,
        body=f"For the person you care for: {flag.explanation}", why=_why(flag),
        evidence={**flag.evidence, "flag_id": row.id}, created_at=now, ref=f"{row.id}:care",
    ) for cid in ids]


def _after_feedback(st: DispatchState, patient_id: str, flag_type: str, severity: str) -> str:
    """One step lower per "not useful" answer on this flag type in the last 90 days."""
    answers = st.feedback.get((patient_id, flag_type), 0)
    for _ in range(min(int(answers), MAX_DEMOTION)):
        severity = DEMOTE[severity]
    return severity


def _positive(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
              now: datetime) -> list[Outbound]:
    sent_today = st.positives_sent(policy.patient_id, policy.day_start(now))
    live = not policy.in_quiet_hours(now) and int(sent_today) < POSITIVE_LIVE_PER_DAY
    outcome = "sent" if live else "queued"
    row = _record_flag(session, policy.patient_id, flag, outcome, now)
    nudge = _nudge(session, st, policy, flag, row, "positive", outcome, now, kind="positive")
    return [nudge] if live else []


def _why(flag: FlagRequest) -> str:
    return flag.why or flag.explanation


def _nudge(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
           row: CoachFlag, priority: str, status: str, now: datetime, *,
           kind: str = "nudge", budget: bool = True) -> Outbound:
    sent = status == "sent"
    budget = budget and sent and kind == "nudge" and priority != "urgent"
    if sent:
        st.note_sent(policy.patient_id, now, budget, kind == "positive")
    nudge = CoachNudge(
        id=new_id(), patient_id=policy.patient_id, flag_id=row.id, kind=kind,
        flag_type=flag.flag_type, priority=priority, title=flag.title, body=flag.explanation,
        why=_why(flag), evidence=flag.evidence, status=status,
        counts_to_budget=budget,
        created_at=now, sent_at=now if sent else None,
    )
    session.add(nudge)
    return Outbound(
        kind=kind, patient_id=policy.patient_id, recipient_role="patient",  # type: ignore[arg-type]
        recipient_id=policy.patient_id, flag_type=flag.flag_type,
        priority=priority, title=flag.title, body=flag.explanation,  # type: ignore[arg-type]
        why=_why(flag), evidence=flag.evidence, created_at=now, ref=nudge.id,
    )


def _alert(session: Session, st: DispatchState, policy: Policy, flag: FlagRequest,
           row: CoachFlag, kind: str, audience: str, now: datetime) -> list[Outbound]:
    """A new alert to the coach or nurse, or (nothing to send) one more occurrence on the
    alert of this group from the last 7 days. A nurse's clinical alert is only joined while
    it is still open: one she has dealt with is not reopened by a new finding, which gets
    an alert of its own."""
    pid = policy.patient_id
    earlier = st.grouped.get((pid, flag.group, kind))
    if earlier is not None and (kind == "alert" or earlier.state in ("open", "snoozed")):
        seen = list(earlier.evidence.get("occurrences", [aware(earlier.created_at).isoformat()]))
        earlier.evidence = {**earlier.evidence, "occurrences": [*seen, now.isoformat()],
                            "latest": flag.evidence, "latest_explanation": flag.explanation}
        return []
    alert = CoachAlert(
        id=new_id(), patient_id=pid, flag_id=row.id, flag_type=flag.flag_type,
        group=flag.group, kind=kind, audience=audience, priority=flag.severity.value,
        title=flag.title,
        body=flag.explanation, why=_why(flag), evidence=flag.evidence,
        state="open", created_at=now, ladder=[], step=-1, next_step_at=None,
    )
    session.add(alert)
    st.grouped[(pid, flag.group, kind)] = alert
    return [Outbound(
        kind=kind, patient_id=pid, recipient_role=audience,  # type: ignore[arg-type]
        recipient_id=st.recipient(session, policy, audience), flag_type=flag.flag_type,
        priority=flag.severity.value, title=flag.title, body=flag.explanation,
        why=_why(flag), evidence=flag.evidence, created_at=now, ref=alert.id,
    )]


def build_digest(session: Session, patient_id: str, now: datetime) -> Outbound | None:
    """Bundle the patient's queued nudges into one morning digest (None if nothing waits,
    or if it is still quiet hours, or if the patient is recorded disengaged: then the
    queued nudges are held, status "held", on their outreach task). The scheduler calls
    this at the end of quiet hours (``load_policy(...).quiet_end_after(now)`` gives the
    next time)."""
    policy = load_policy(session, patient_id)
    if policy.in_quiet_hours(now):
        return None
    queued = session.scalars(
        select(CoachNudge)
        .where(CoachNudge.patient_id == patient_id, CoachNudge.status == "queued")
        .order_by(CoachNudge.created_at)
    ).all()
    if not queued:
        return None
    recorded = engagement_rows.latest_states(session, [patient_id]).get(patient_id)
    if recorded is not None and recorded.state == "disengaged" and (
            now - recorded.computed_at <= ENGAGEMENT_FRESH):
        # no digest to someone who has stopped reading: what waited goes to their
        # outreach task (what the dispatcher does with a live nudge, ``_hold``)
        for n in queued:
            n.status = "held"
            outreach.hold_nudge(session, patient_id, evidence=recorded.evidence, now=now)
        session.flush()
        return None
    items = sorted(queued, key=lambda n: (SEVERITY_RANK.get(n.priority, 9), aware(n.created_at)))
    digest_id = new_id()
    for n in items:
        n.status, n.digest_id = "digested", digest_id
    lines = [say("- {title}: {message}", title=n.title, message=n.body) for n in items]
    evidence = {
        "items": [
            {"ref": n.id, "flag_type": n.flag_type, "priority": n.priority, "title": n.title,
             "why": n.why, "evidence": n.evidence, "created_at": aware(n.created_at).isoformat()}
            for n in items
        ]
    }
    top = items[0].priority
    title = (say("Your morning summary ({count} items)", count=len(items)) if len(items) > 1
             else N_("Your morning summary (1 item)"))
    why = N_("These waited for your morning summary. They came in your quiet hours, or "
             "after your messages for the day, or they are not urgent.")
    session.add(CoachNudge(
        id=digest_id, patient_id=patient_id, kind="digest", flag_type="digest", priority=top,
        title=title, body="\n".join(lines), why=why, evidence=evidence, status="sent",
        counts_to_budget=False, created_at=now, sent_at=now,
    ))
    session.flush()
    return Outbound(
        kind="digest", patient_id=patient_id, recipient_role="patient", recipient_id=patient_id,
        flag_type="digest", priority=top,  # type: ignore[arg-type]
        title=title, body="\n".join(lines),
        why=why, evidence=evidence, created_at=now, ref=digest_id,
    )


# -- a coach's personal messages: telling the patient, within her attention policy -----------

def route_coach_messages(session: Session, now: datetime) -> list[Outbound]:
    """Tell each patient that her coach wrote (care/conversation.py ``notify_patient``
    leaves the notification "pending"), as a motivational nudge: live outside quiet hours
    and within the daily budget, counting against it; otherwise held for the morning
    digest ("queued"). Several pending for one person become one notification ("3
    messages"), so a coach writing in bursts does not spend a day's budget. The message
    itself is in the thread already; only the telling waits."""
    from care.conversation import COACH_MESSAGE, PENDING

    pending = session.scalars(
        select(CoachNudge).where(CoachNudge.status == PENDING,
                                 CoachNudge.flag_type == COACH_MESSAGE)
        .order_by(CoachNudge.patient_id, CoachNudge.created_at, CoachNudge.id)).all()
    if not pending:
        return []
    by_patient: dict[str, list[CoachNudge]] = {}
    for row in pending:
        by_patient.setdefault(row.patient_id, []).append(row)
    st = DispatchState(session, list(by_patient), now)
    policies = load_policies(session, list(by_patient))
    out: list[Outbound] = []
    for patient_id, rows in by_patient.items():
        policy = policies.get(patient_id) or load_policy(session, patient_id)
        out.extend(_tell(st, policy, rows, now))
    session.flush()
    return out


def _tell(st: DispatchState, policy: Policy, rows: list[CoachNudge],
          now: datetime) -> list[Outbound]:
    first, rest = rows[0], rows[1:]
    if rest:
        first.title = say("{count} messages from your coach", count=len(rows))
        first.evidence = {**first.evidence, "messages": len(rows)}
    for row in rest:  # one notification stands for them all
        row.status, row.digest_id = "merged", first.id
    live = not policy.in_quiet_hours(now) and (
        st.budget_used(policy.patient_id, policy.day_start(now)) < policy.daily_budget)
    if not live:
        first.status = "queued"  # the morning digest tells her (build_digest)
        return []
    first.status, first.sent_at, first.counts_to_budget = "sent", now, True
    st.note_sent(policy.patient_id, now, True, False)
    return [Outbound(
        kind="nudge", patient_id=policy.patient_id, recipient_role="patient",
        recipient_id=policy.patient_id, flag_type=first.flag_type, priority="normal",
        title=first.title, body=first.body, why=first.why, evidence=first.evidence,
        created_at=now, ref=first.id)]
