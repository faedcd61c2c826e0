"""Engagement, measured per person: engaged, slipping or disengaged, with the evidence in
words (issue 20).

``evaluate`` is pure: it takes what ``gather`` read about one person (days with readings
per device kind against what their plan expects, nudges opened or answered "not useful",
the check-in, goals missed or given up, the last sign-in, peer-group posts) and adds up
*signs of drifting*, each worth points. The points decide the state; the signs are the
evidence, each in plain words. The coach's scheduler records every patient's state once
a day (``record_all``; coach/scheduler.py "engagement" job) and the history is kept
(core/appdb/engagement.py).

Every threshold is a field of ``EngagementSettings`` (defaults and reasons in
docs/COACH.md "Engagement"); a clinic overrides any of them (``engagement_settings``
row, ``settings_for``). None of them is a clinical number: they decide who a person
calls first, never a treatment. The one expectation with a clinical source, daily
weighing in heart failure (ESC 2021 HF, docs/CLINICAL.md "Goals"), is the scale's
default of 7 days a week for a person with heart failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.appdb import engagement as rows
from core.appdb.accounts import ClinicPatient, LoginAttempt, LoginSession, User
from core.appdb.delivery import InboxMessage
from core.appdb.directory import DeviceBinding, PatientInfo
from core.appdb.models import Device, Patient
from core.appdb.plans import Goal, GoalChange, PeerGroup, PeerMembership, PeerPost, SelfAssessment
from core.metrics import Metric
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

ENGAGED, SLIPPING, DISENGAGED = "engaged", "slipping", "disengaged"
# The devices a person uses by hand or wears: a silent one says something about them.
# Motion and door sensors are passive (their silence is the house, not the person).
DEVICE_METRIC: Mapping[str, tuple[Metric, str | None]] = MappingProxyType({
    "cgm": (Metric.GLUCOSE, "cgm"), "glucose_meter": (Metric.GLUCOSE, "meter"),
    "bp_cuff": (Metric.SYSTOLIC, None), "scale": (Metric.WEIGHT, None),
    "pulse_oximeter": (Metric.SPO2, None), "pill_box": (Metric.MEDICATION_TAKEN, None),
    "pedometer": (Metric.STEPS, None),
})
DEVICE_WORDS: Mapping[str, str] = MappingProxyType({
    "cgm": "glucose sensor", "glucose_meter": "glucose meter", "bp_cuff": "blood pressure cuff",
    "scale": "scale", "pulse_oximeter": "pulse oximeter", "pill_box": "pill box",
    "pedometer": "step counter"})
US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class EngagementSettings:
    """Every threshold of the evaluation (docs/COACH.md "Engagement"). Hearth's choices."""

    window_days: int = 7  # a week: long enough for a 3-days-a-week device, short enough
    # that a person who stops is noticed within days (bench/engagement.py)
    # days a week each device kind is expected in use, unless a plan goal says otherwise
    expected_days: Mapping[str, int] = field(default_factory=lambda: {
        "cgm": 7, "glucose_meter": 7, "bp_cuff": 3, "scale": 5, "pulse_oximeter": 3,
        "pill_box": 7, "pedometer": 5})
    scale_days_heart_failure: int = 7  # daily weighing: ESC 2021 HF (docs/CLINICAL.md)
    device_slipping_ratio: float = 0.7  # days with readings / expected days
    device_disengaged_ratio: float = 0.3
    silent_all_days: int = 5  # no reading from any device the person uses
    nudges_min: int = 3  # fewer delivered nudges say nothing about reading them
    nudges_opened_below: float = 0.25
    not_useful_min: int = 2
    checkin_overdue_days: int = 45  # the check-in is offered monthly (coach/scheduler.py)
    goal_window_days: int = 28
    goals_missed_in_row: int = 2  # care/goals.py steps a goal down after two misses
    sign_in_slipping_days: int = 14
    sign_in_disengaged_days: int = 30
    group_quiet_days: int = 28
    slipping_points: float = 2.0
    disengaged_points: float = 4.0
    full_points: float = 8.0  # the points at which the score (0..1) is 1
    outreach_due_hours: int = 48  # an outreach task is due this long after it opens

    @classmethod
    def from_overrides(cls, values: Mapping[str, Any]) -> EngagementSettings:
        """The defaults with a clinic's overrides; ValueError for an unknown name."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown engagement settings: {', '.join(sorted(unknown))}")
        base = cls()
        merged = dict(values)
        if "expected_days" in merged:
            merged["expected_days"] = {**base.expected_days, **merged["expected_days"]}
        made = replace(base, **merged)
        if not 0 < made.slipping_points <= made.disengaged_points:
            raise ValueError("need 0 < slipping_points <= disengaged_points")
        return made


@dataclass(frozen=True, slots=True)
class DeviceUse:
    kind: str
    days_with: int
    expected_days: float  # in the window


@dataclass(frozen=True, slots=True)
class EngagementInputs:
    """What one person did in the window (``gather``); None: nothing to judge by."""

    patient_id: str
    window_days: int
    devices: tuple[DeviceUse, ...] = ()
    days_since_any_reading: float | None = None
    nudges_delivered: int = 0
    nudges_opened: int = 0
    not_useful: int = 0
    days_since_checkin: float | None = None  # None: never (judged only if known long enough)
    known_days: float = 0.0  # since the patient was registered
    goals_given_up: int = 0
    goals_missing: int = 0
    days_since_sign_in: float | None = None
    has_account: bool = False
    in_group: bool = False
    days_since_group_post: float | None = None


@dataclass(frozen=True, slots=True)
class Sign:
    code: str
    points: float
    words: str


@dataclass(frozen=True, slots=True)
class Engagement:
    state: str
    points: float
    score: float  # 0..1, how far from engaged (orders the outreach list)
    signs: tuple[Sign, ...]

    @property
    def evidence(self) -> list[str]:
        return [s.words for s in self.signs] or ["Using the devices and messages as expected."]


def evaluate(x: EngagementInputs, s: EngagementSettings | None = None) -> Engagement:
    """The state of one person from what they did: pure."""
    s = s or EngagementSettings()
    signs: list[Sign] = []
    for d in x.devices:
        if d.expected_days <= 0:
            continue
        ratio = d.days_with / d.expected_days
        what = DEVICE_WORDS.get(d.kind, d.kind)
        said = (f"The {what} was used on {d.days_with} of the {d.expected_days:.0f} days "
                f"expected in {x.window_days} days.")
        if ratio < s.device_disengaged_ratio:
            signs.append(Sign(f"device:{d.kind}", 2.0, said))
        elif ratio < s.device_slipping_ratio:
            signs.append(Sign(f"device:{d.kind}", 1.0, said))
    if x.days_since_any_reading is not None and x.days_since_any_reading >= s.silent_all_days:
        signs.append(Sign("silent", 2.0, f"No reading from any device for "
                                         f"{x.days_since_any_reading:.0f} days."))
    if x.nudges_delivered >= s.nudges_min and (
            x.nudges_opened / x.nudges_delivered) < s.nudges_opened_below:
        signs.append(Sign("nudges_unread", 1.0, f"Opened {x.nudges_opened} of "
                                                f"{x.nudges_delivered} messages sent."))
    if x.not_useful >= s.not_useful_min:
        signs.append(Sign("not_useful", 1.0, f"Marked {x.not_useful} messages \"not useful\"."))
    if x.days_since_checkin is not None and x.days_since_checkin >= s.checkin_overdue_days:
        signs.append(Sign("checkin", 1.0, f"Last check-in {x.days_since_checkin:.0f} days ago."))
    elif x.days_since_checkin is None and x.known_days >= s.checkin_overdue_days:
        signs.append(Sign("checkin", 1.0, "Has never done a check-in."))
    if x.goals_given_up:
        signs.append(Sign("goals_given_up", 1.0, f"Gave up or paused {x.goals_given_up} "
                                                 f"goal{'s' if x.goals_given_up > 1 else ''}."))
    if x.goals_missing:
        signs.append(Sign("goals_missed", 1.0, f"{x.goals_missing} goal"
                                               f"{'s' if x.goals_missing > 1 else ''} missed "
                                               f"{s.goals_missed_in_row} weeks in a row."))
    if x.has_account:
        ago = x.days_since_sign_in
        if ago is None or ago >= s.sign_in_disengaged_days:
            when = "Has not signed in" + ("." if ago is None else f" for {ago:.0f} days.")
            signs.append(Sign("sign_in", 2.0, when))
        elif ago >= s.sign_in_slipping_days:
            signs.append(Sign("sign_in", 1.0, f"Last signed in {ago:.0f} days ago."))
    if x.in_group and (x.days_since_group_post is None
                       or x.days_since_group_post >= s.group_quiet_days):
        signs.append(Sign("group_quiet", 0.5, "Quiet in the peer group for "
                                              f"{s.group_quiet_days}+ days."))
    points = sum(sg.points for sg in signs)
    state = (DISENGAGED if points >= s.disengaged_points
             else SLIPPING if points >= s.slipping_points else ENGAGED)
    score = min(points / s.full_points, 1.0) if s.full_points > 0 else 0.0
    return Engagement(state, points, round(score, 3), tuple(signs))


# -- reading what the person did ------------------------------------------------------------

def settings_for(session: Session, patient_id: str) -> EngagementSettings:
    """The defaults with the overrides of the patient's clinic (if any)."""
    clinic = session.scalar(select(ClinicPatient.clinic_id)
                            .where(ClinicPatient.patient_id == patient_id))
    try:
        return EngagementSettings.from_overrides(rows.clinic_settings(session, clinic))
    except (TypeError, ValueError):
        log.error("clinic %s has unusable engagement settings; the defaults apply", clinic)
        return EngagementSettings()


def _days_with(store: TimeSeriesStore, patient: PatientInfo, kind: str, start: datetime,
               end: datetime) -> tuple[int, int | None]:
    """(local days with a reading, time us of the newest reading or None)."""
    metric, source = DEVICE_METRIC[kind]
    series = store.read_series(patient.id, metric, start, end, source=source)
    if not len(series):
        return 0, None
    offset = _offset_us(patient.timezone, end)
    days = np.unique((series.times_us + offset) // US_PER_DAY)
    return int(days.size), int(series.times_us[-1])


def _offset_us(tz: str, at: datetime) -> int:
    off = at.astimezone(ZoneInfo(tz)).utcoffset() or timedelta()
    return int(off.total_seconds() * 1_000_000)


def _expected(kind: str, patient: PatientInfo, goals: Sequence[Goal],
              s: EngagementSettings) -> float:
    """Days a week the plan expects the device: an active goal that measures its metric,
    else the default of its kind (daily weighing in heart failure)."""
    metric = DEVICE_METRIC[kind][0]
    for g in goals:
        if g.metric == str(metric) and g.days_required:
            return float(g.days_required) * 7.0 / max(g.period_days, 1)
    if kind == "scale" and any("heart_failure" in c for c in patient.conditions):
        return float(s.scale_days_heart_failure)
    return float(s.expected_days.get(kind, 0))


def gather(session: Session, store: TimeSeriesStore, patient: PatientInfo,
           devices: Sequence[DeviceBinding], now: datetime,
           s: EngagementSettings | None = None) -> EngagementInputs:
    s = s or EngagementSettings()
    pid = patient.id
    start = now - timedelta(days=s.window_days)
    goals = list(session.scalars(select(Goal).where(Goal.patient_id == pid,
                                                    Goal.status == "active")))
    uses: list[DeviceUse] = []
    newest: int | None = None
    for kind in sorted({d.kind for d in devices if d.active and d.kind in DEVICE_METRIC}):
        days, last = _days_with(store, patient, kind, start, now)
        newest = max(newest or 0, last or 0) or None
        per_week = _expected(kind, patient, goals, s)
        uses.append(DeviceUse(kind, days, per_week * s.window_days / 7.0))
    if newest is None and uses:  # nothing in the window: when was the last one?
        for kind in {u.kind for u in uses}:
            metric = DEVICE_METRIC[kind][0]
            found = store.latest(pid, [metric]).get(metric)
            if found is not None:
                at = int(found.measured_at.timestamp() * 1_000_000)
                newest = max(newest or 0, at)
    silent = None
    if uses:
        silent = (float(max(s.window_days, s.silent_all_days) * 4) if newest is None
                  else (now.timestamp() * 1_000_000 - newest) / US_PER_DAY)
    delivered, opened = session.execute(
        select(func.count(), func.count(InboxMessage.read_at)).where(
            InboxMessage.recipient_key == pid, InboxMessage.recipient_role == "patient",
            InboxMessage.kind.in_(("nudge", "digest", "positive")),
            InboxMessage.created_at >= start)).one()
    from core.appdb.coaching import CoachNudge

    not_useful = session.scalar(select(func.count()).select_from(CoachNudge).where(
        CoachNudge.patient_id == pid, CoachNudge.feedback == "not_useful",
        CoachNudge.feedback_at >= start)) or 0
    last_checkin = session.scalar(select(func.max(SelfAssessment.taken_at))
                                  .where(SelfAssessment.patient_id == pid))
    created = session.scalar(select(Patient.created_at).where(Patient.id == pid))
    given_up = session.scalar(select(func.count(func.distinct(GoalChange.goal_id))).where(
        GoalChange.patient_id == pid, GoalChange.change.in_(("retired", "paused")),
        GoalChange.at >= now - timedelta(days=s.goal_window_days))) or 0
    missing = sum(1 for g in goals if g.misses_in_row >= s.goals_missed_in_row)
    user = session.scalar(select(User.id).where(User.patient_id == pid))
    sign_in = None
    if user is not None:
        seen = [session.scalar(select(func.max(LoginSession.last_seen_at))
                               .where(LoginSession.user_id == user)),
                session.scalar(select(func.max(LoginAttempt.at)).where(
                    LoginAttempt.user_id == user, LoginAttempt.succeeded.is_(True)))]
        known = [_aware(t) for t in seen if t is not None]
        sign_in = (now - max(known)).total_seconds() / 86_400 if known else None
    in_group = session.scalar(select(func.count()).select_from(PeerMembership).join(
        PeerGroup, PeerGroup.id == PeerMembership.group_id).where(
        PeerMembership.member_id == pid, PeerMembership.left_at.is_(None),
        PeerGroup.status == "active")) or 0
    post = session.scalar(select(func.max(PeerPost.created_at))
                          .where(PeerPost.author_id == pid)) if in_group else None
    return EngagementInputs(
        patient_id=pid, window_days=s.window_days, devices=tuple(uses),
        days_since_any_reading=silent, nudges_delivered=int(delivered),
        nudges_opened=int(opened), not_useful=int(not_useful),
        days_since_checkin=_days(now, last_checkin),
        known_days=_days(now, created) or 0.0, goals_given_up=int(given_up),
        goals_missing=missing, days_since_sign_in=sign_in, has_account=user is not None,
        in_group=bool(in_group), days_since_group_post=_days(now, post))


def _aware(at: datetime) -> datetime:
    from core.clock import aware

    return aware(at)


def _days(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else (now - _aware(at)).total_seconds() / 86_400


def record_all(session: Session, store: TimeSeriesStore, now: datetime,
               patient_ids: Iterable[str] | None = None) -> dict[str, Engagement]:
    """Evaluate and record today's state of every patient (or of ``patient_ids``);
    the caller commits. Returns each patient's evaluation."""
    people = session.scalars(select(Patient).order_by(Patient.id)).all()
    wanted = None if patient_ids is None else set(patient_ids)
    devices: dict[str, list[DeviceBinding]] = {}
    for d in session.scalars(select(Device)):
        devices.setdefault(d.patient_id, []).append(
            DeviceBinding(d.id, d.patient_id, d.kind, d.active))
    out: dict[str, Engagement] = {}
    for p in people:
        if wanted is not None and p.id not in wanted:
            continue
        info = PatientInfo(p.id, p.display_name, p.timezone or "UTC", tuple(p.conditions or ()),
                           dict(p.targets or {}))
        s = settings_for(session, p.id)
        inputs = gather(session, store, info, devices.get(p.id, []), now, s)
        result = evaluate(inputs, s)
        rows.save_state(session, patient_id=p.id, day=now.astimezone(ZoneInfo(info.timezone))
                        .date(), state=result.state, points=result.points, score=result.score,
                        evidence=result.evidence, signals=_signals(inputs), now=now)
        out[p.id] = result
    session.flush()
    return out


def _signals(x: EngagementInputs) -> dict[str, Any]:
    return {"devices": {d.kind: [d.days_with, round(d.expected_days, 1)] for d in x.devices},
            "days_since_any_reading": x.days_since_any_reading,
            "nudges": [x.nudges_opened, x.nudges_delivered], "not_useful": x.not_useful,
            "days_since_checkin": x.days_since_checkin, "goals_given_up": x.goals_given_up,
            "goals_missing": x.goals_missing, "days_since_sign_in": x.days_since_sign_in,
            "in_group": x.in_group, "days_since_group_post": x.days_since_group_post}
