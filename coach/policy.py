"""The attention policy of one patient: quiet hours, daily budget, cool-downs, feedback
and the escalation intervals, from their coaching preferences (or the defaults).

None of these numbers is clinical; they put docs/DESIGN.md §5 ("respect attention: quiet
hours, a daily nudge budget, no repeats within the cool-down, digests over streams")
into practice and each one is a per-patient setting (core/appdb/coaching.py
CoachingPreference). Defaults and why:

- quiet hours 22:00-07:00 local: ordinary sleeping hours;
- 3 nudges a day: at most one per waking "part" of the day (morning, afternoon, evening);
- cool-down per flag group, by severity: urgent 30 min (a still-low glucose after an
  acknowledged alarm is news again after half an hour), high 4 h, normal and low 24 h,
  positive 24 h; weekly findings (a trend, a pattern, a 7-day average) 7 days;
- "not useful": each such answer on a flag type in the last 90 days lowers that type one
  step for the person (high -> normal -> low = digest only), at most two steps; urgent
  safety messages are never lowered;
- one positive message a day goes out live, more wait for the digest;
- escalation: patient 10 min, caregiver 10 min, coach 15 min, then the nurse. Ten minutes
  lets a person treat a low (15 g of sugar) and press OK; the coach gets a little longer
  because they work a queue. A patient's advocate (care/advocates.py), when they are not
  already on the ladder, comes after the caregiver, also with 10 minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.appdb.accounts import CareTeamMember, CareTeamPatient, ClinicPatient, User
from core.appdb.coaching import CoachingPreference
from core.appdb.models import Patient

SEVERITY_RANK: Mapping[str, int] = MappingProxyType(
    {"urgent": 0, "high": 1, "normal": 2, "low": 3, "positive": 4}
)
COOLDOWN_MIN: Mapping[str, float] = MappingProxyType(
    {"urgent": 30, "high": 240, "normal": 1440, "low": 1440, "positive": 1440}
)
WEEK_MIN = 7 * 24 * 60.0
GROUP_COOLDOWN_MIN: Mapping[str, float] = MappingProxyType(
    {
        "hypo": 60.0,  # a new low within the hour is the same episode for the patient
        "nocturnal_lows": WEEK_MIN,
        "rising_fasting": WEEK_MIN,
        "tir_falling": WEEK_MIN,
        "bp_above_target": WEEK_MIN,
    }
)
ESCALATION_MIN: Mapping[str, float] = MappingProxyType(
    {"patient": 10.0, "caregiver": 10.0, "advocate": 10.0, "coach": 15.0}
)
FEEDBACK_WINDOW = timedelta(days=90)
MAX_DEMOTION = 2
POSITIVE_LIVE_PER_DAY = 1


def _minutes(text: str) -> int:
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


@dataclass(frozen=True, slots=True)
class Policy:
    patient_id: str
    tz: str = "UTC"
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    daily_budget: int = 3
    caregiver_id: str | None = None
    coach_id: str | None = None
    nurse_id: str | None = None
    # the patient's advocate (care/advocates.py) when not already on the ladder, and the
    # role of their account (coach or caregiver): set by coach/escalation.py with_advocate
    advocate_id: str | None = None
    advocate_role: str | None = None
    escalation_min: Mapping[str, float] = field(default_factory=lambda: dict(ESCALATION_MIN))
    rule_tuning: Mapping[str, Any] = field(default_factory=dict)

    def local(self, now: datetime) -> datetime:
        return now.astimezone(ZoneInfo(self.tz))

    def in_quiet_hours(self, now: datetime) -> bool:
        local = self.local(now)
        minute = local.hour * 60 + local.minute
        start, end = _minutes(self.quiet_start), _minutes(self.quiet_end)
        if start == end:
            return False
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end

    def day_start(self, now: datetime) -> datetime:
        """Local midnight of ``now``'s local day, as UTC."""
        local = self.local(now)
        return datetime.combine(local.date(), time(0), local.tzinfo).astimezone(UTC)

    def quiet_end_after(self, now: datetime) -> datetime:
        """The next end of quiet hours (the morning digest time), as UTC."""
        local = self.local(now)
        end = _minutes(self.quiet_end)
        at = datetime.combine(local.date(), time(end // 60, end % 60), local.tzinfo)
        if at <= local:
            at = datetime.combine(
                local.date() + timedelta(days=1), time(end // 60, end % 60), local.tzinfo
            )
        return at.astimezone(UTC)

    def cooldown(self, group: str, severity: str) -> timedelta:
        base = group.split(":", 1)[0]
        minutes = GROUP_COOLDOWN_MIN.get(base, COOLDOWN_MIN[severity])
        if severity == "urgent":
            minutes = COOLDOWN_MIN["urgent"]
        return timedelta(minutes=minutes)

    def ladder(self) -> list[str]:
        """patient -> caregiver (only if opted in) -> advocate (if named and not on the
        ladder already) -> coach -> nurse."""
        roles = ["patient"]
        if self.caregiver_id:
            roles.append("caregiver")
        if self.advocate_id:
            roles.append("advocate")
        return [*roles, "coach", "nurse"]

    def recipient(self, role: str) -> str | None:
        return {"patient": self.patient_id, "caregiver": self.caregiver_id,
                "advocate": self.advocate_id, "coach": self.coach_id,
                "nurse": self.nurse_id}.get(role)

    def wait_after(self, role: str) -> timedelta:
        return timedelta(minutes=float(self.escalation_min.get(role, ESCALATION_MIN.get(role, 10))))


def load_policy(session: Session, patient_id: str) -> Policy:
    patient = session.get(Patient, patient_id)
    prefs = session.get(CoachingPreference, patient_id)
    return _policy(patient_id, patient.timezone if patient else None, prefs)


def load_policies(session: Session, patient_ids: Iterable[str]) -> dict[str, Policy]:
    """``load_policy`` for many patients in two queries (the scheduled cycle's chunks)."""
    ids = list(dict.fromkeys(patient_ids))
    zones: dict[str, str] = {}
    prefs: dict[str, CoachingPreference] = {}
    for k in range(0, len(ids), 500):  # under every backend's bound-parameter limit
        part = ids[k:k + 500]
        zones.update(session.execute(
            select(Patient.id, Patient.timezone).where(Patient.id.in_(part))).all())
        prefs.update((p.patient_id, p) for p in session.scalars(
            select(CoachingPreference).where(CoachingPreference.patient_id.in_(part))))
    return {pid: _policy(pid, zones.get(pid), prefs.get(pid)) for pid in ids}


def _policy(patient_id: str, patient_tz: str | None,
            prefs: CoachingPreference | None) -> Policy:
    tz = (prefs.timezone if prefs and prefs.timezone else None) or patient_tz or "UTC"
    if prefs is None:
        return Policy(patient_id, tz=tz)
    return Policy(
        patient_id,
        tz=tz,
        quiet_start=prefs.quiet_start,
        quiet_end=prefs.quiet_end,
        daily_budget=prefs.daily_budget,
        caregiver_id=prefs.caregiver_id,
        coach_id=prefs.coach_id,
        nurse_id=prefs.nurse_id,
        escalation_min={**ESCALATION_MIN, **(prefs.escalation_minutes or {})},
        rule_tuning=dict(prefs.rule_tuning or {}),
    )


CARE_TEAM_ROLES = ("coach", "nurse")


def care_team_member(session: Session, patient_id: str, role: str) -> str | None:
    """Who of the patient's care team takes an alert for ``role`` (coach or nurse) when the
    coaching preferences name nobody: an active member with that role of a care team the
    patient is assigned to (core/appdb/accounts.py CareTeamPatient/CareTeamMember); for a
    nurse, else an active nurse of the patient's clinic (docs/DESIGN.md §4: a nurse sees the
    patients of their clinic). The first by user id, so every process picks the same one."""
    if role not in CARE_TEAM_ROLES:
        return None
    return care_teams(session, [patient_id]).get((patient_id, role))


def care_teams(session: Session, patient_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """(patient id, "coach" or "nurse") -> user id, for many patients in two queries."""
    ids = list(dict.fromkeys(patient_ids))
    found: dict[tuple[str, str], str] = {}
    with session.no_autoflush:
        for k in range(0, len(ids), 500):
            part = ids[k:k + 500]
            rows: list[tuple[str, str, str]] = [
                (str(p), str(r), str(u)) for p, r, u in session.execute(
                select(CareTeamPatient.patient_id, User.role, User.id)
                .join(CareTeamMember, CareTeamMember.team_id == CareTeamPatient.team_id)
                .join(User, User.id == CareTeamMember.user_id)
                .where(CareTeamPatient.patient_id.in_(part), User.role.in_(CARE_TEAM_ROLES),
                       User.active.is_(True)))]
            # a nurse of the patient's clinic when no care team names one (ranked after)
            rows += [(pid, "clinic_nurse", uid) for pid, uid in session.execute(
                select(ClinicPatient.patient_id, User.id)
                .join(User, User.clinic_id == ClinicPatient.clinic_id)
                .where(ClinicPatient.patient_id.in_(part), User.role == "nurse",
                       User.active.is_(True)))]
            for pid, role, uid in sorted(rows, key=lambda r: (r[1] == "clinic_nurse", r[2])):
                found.setdefault((pid, "nurse" if role == "clinic_nurse" else role), uid)
    return found


def recipient_for(session: Session, policy: Policy, role: str,
                  teams: Mapping[tuple[str, str], str] | None = None) -> str | None:
    """The policy's recipient for ``role``, else the care team's (coach and nurse);
    ``teams``: ``care_teams`` read in bulk beforehand."""
    named = policy.recipient(role)
    if named or role not in CARE_TEAM_ROLES:
        return named
    if teams is not None:
        return teams.get((policy.patient_id, role))
    return care_team_member(session, policy.patient_id, role)


def save_preferences(
    session: Session, patient_id: str, *, now: datetime, **values: Any
) -> CoachingPreference:
    """Create or update a patient's coaching preferences (validated rule tuning first)."""
    from coach.rules.registry import validate_tuning

    if "rule_tuning" in values:
        validate_tuning(values["rule_tuning"])
    for name in ("quiet_start", "quiet_end"):
        if name in values:
            minute = _minutes(values[name])
            if not 0 <= minute < 24 * 60:
                raise ValueError(f"{name} must be a time of day")
    prefs = session.get(CoachingPreference, patient_id)
    if prefs is None:
        prefs = CoachingPreference(
            patient_id=patient_id, quiet_start="22:00", quiet_end="07:00", daily_budget=3,
            rule_tuning={}, escalation_minutes={},
        )
        session.add(prefs)
    for name, value in values.items():
        if not hasattr(CoachingPreference, name):
            raise ValueError(f"unknown coaching preference {name!r}")
        setattr(prefs, name, value)
    prefs.updated_at = now
    return prefs
