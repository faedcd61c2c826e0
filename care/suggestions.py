"""Goal suggestions by condition, and the coach's plan draft pre-filled from the latest
check-in (issue 23).

The coach starts from these and changes anything; the patient picks among options.
Every number here is a starting point on a goal's ladder (care/goals.py), and where a
guideline names the aim the reason cites it (docs/CLINICAL.md, "Goals,
self-assessment and peer groups"):

- heart failure: weigh every day (ESC 2021 HF self-care); start on 5 days a week and
  step up to daily;
- COPD: pace activities, and use the inhaler as prescribed (GOLD 2024 self-management:
  breathlessness and energy conservation, inhaler technique); self-reported, 3 days a
  week to start;
- hypertension: home blood-pressure pairs, morning and evening (ESH 2023 home protocol);
  start with one pair a day on 5 days and step up to two;
- diabetes: time in range toward >70% (>50% for older or high-risk adults; Battelino
  2019), starting at 50% and rising 5 points a step; fasting fingersticks on 3 mornings
  a week; steps from the person's own baseline + 500 a day (7,000 a day on the way:
  Paluch 2022, see analytics/activity.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from care import selfassessment as sa
from care.goals import GOAL_KINDS, Behaviour, GoalKind, amount_text
from care.plans import GoalDraft


@dataclass(frozen=True, slots=True)
class Suggestion:
    draft: GoalDraft
    condition: str  # the condition it serves, or "check-in" for the check-in's options
    reason: str  # why, in plain words, with its source
    device: str | None  # the device kind that measures it (None: self-reported)
    available: bool  # the patient has that device (always True when self-reported)

    @property
    def behaviour(self) -> str:
        return str(self.draft.behaviour or GOAL_KINDS[self.draft.kind].behaviour)

    @property
    def label(self) -> str:
        if self.draft.kind is GoalKind.SELF_REPORT:
            return self.draft.what
        target = self.draft.target
        return (amount_text(self.draft.kind, target) if target is not None
                else "steps a day: your own baseline + 500")


CONDITION_WORDS = {"heart_failure": "heart failure", "copd": "COPD",
                   "hypertension": "high blood pressure", "diabetes": "diabetes"}


def _condition_key(condition: str) -> str:
    return "diabetes" if "diabetes" in condition else condition


def _by_condition() -> dict[str, tuple[tuple[GoalDraft, str | None, str], ...]]:
    return {
        "heart_failure": (
            (GoalDraft(GoalKind.WEIGH_INS, target=5), "scale",
             "Weighing every morning shows fluid building up early (ESC 2021 heart failure "
             "self-care: a gain of more than 2 kg in 3 days needs a call); start on 5 days "
             "and step up to daily."),
        ),
        "copd": (
            (GoalDraft(GoalKind.SELF_REPORT, target=3, behaviour=Behaviour.BEING_ACTIVE,
                       what="Pace my activities: break jobs into parts and rest between them"),
             None, "Pacing keeps breathlessness manageable while staying active (GOLD 2024 "
                   "self-management: energy conservation)."),
            (GoalDraft(GoalKind.SELF_REPORT, target=3, behaviour=Behaviour.TAKING_MEDICATION,
                       what="Use my inhaler as prescribed, with the technique I was shown"),
             None, "Regular use with good technique is what makes an inhaler work (GOLD 2024: "
                   "check inhaler technique at every visit)."),
        ),
        "hypertension": (
            (GoalDraft(GoalKind.BP_PAIRS, target=1, days_required=5), "bp_cuff",
             "Home readings in pairs, morning and evening, give the average your nurse uses "
             "(ESH 2023 home protocol); start with one pair a day and step up to two."),
        ),
        "diabetes": (
            (GoalDraft(GoalKind.TIME_IN_RANGE, target=50), "cgm",
             "More time between 70 and 180 mg/dL: the aim is over 70% (over 50% for older or "
             "high-risk adults; Battelino 2019); start at 50% and rise 5 points a step."),
            (GoalDraft(GoalKind.FASTING_CHECKS, target=3), "glucose_meter",
             "A fingerstick before breakfast shows the fasting level; 3 mornings a week to "
             "start."),
            (GoalDraft(GoalKind.STEPS), "pedometer",
             "A little more walking each day, from your own usual steps + 500 (7,000 a day "
             "is on the way: Paluch 2022)."),
        ),
    }


def condition_goals(conditions: Sequence[str], device_kinds: Sequence[str]) -> list[Suggestion]:
    """Goals suggested for the patient's conditions, in the order of the conditions."""
    table = _by_condition()
    kinds = set(device_kinds)
    out: list[Suggestion] = []
    seen: set[tuple[str, str]] = set()
    for condition in conditions:
        key = _condition_key(condition)
        for draft, device, reason in table.get(key, ()):
            ident = (str(draft.kind), draft.what)
            if ident in seen:
                continue
            seen.add(ident)
            out.append(Suggestion(draft, CONDITION_WORDS.get(key, key), reason, device,
                                  device is None or device in kinds))
    return out


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """What the coach's 'propose a plan' form starts from."""

    assessment_id: str | None
    focus: str | None  # the check-in's starting point (None before a check-in)
    focus_reason: str
    suggestions: tuple[Suggestion, ...]  # check-in options first, then by condition


def plan_draft(session: Session, patient_id: str) -> PlanDraft:
    """The latest check-in's starting point and its goal options, then goals by condition
    (the check-in's own options are the pre-selected ones)."""
    latest = sa.latest_assessment(session, patient_id)
    devices = sa.device_kinds(session, patient_id)
    conditions = sa.conditions(session, patient_id)
    out: list[Suggestion] = []
    if latest is not None:
        for draft in sa.goal_options(Behaviour(latest.focus), device_kinds=devices,
                                     conditions=conditions):
            out.append(Suggestion(draft, "check-in",
                                  f"From the check-in: start with {latest.focus_title.lower()}.",
                                  _device_of(draft.kind), True))
    known = {(str(s.draft.kind), s.draft.what) for s in out}
    out += [s for s in condition_goals(conditions, devices)
            if (str(s.draft.kind), s.draft.what) not in known]
    return PlanDraft(latest.assessment_id if latest else None, latest.focus if latest else None,
                     latest.focus_reason if latest else "", tuple(out))


DEVICE_OF = {GoalKind.STEPS: "pedometer", GoalKind.FASTING_CHECKS: "glucose_meter",
             GoalKind.BP_PAIRS: "bp_cuff", GoalKind.WEIGH_INS: "scale",
             GoalKind.MEDICATION: "pill_box", GoalKind.TIME_IN_RANGE: "cgm"}


def _device_of(kind: GoalKind) -> str | None:
    return DEVICE_OF.get(kind)
