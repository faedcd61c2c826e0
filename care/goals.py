"""Goal kinds and how progress is measured: pure functions over arrays.

A goal is incremental (docs/DESIGN.md §5 "start small"): a per-day amount reached on a
number of days of the period (``days_required``), or a count or level over the
whole period. Each kind says which self-care behaviour it serves, which metric it
reads, how far one step up or down moves the target and within which bounds, and
what the patient and the professional each do by default (both are edited when
the plan is agreed).

The step sizes and bounds below are coaching choices, not clinical thresholds:
they are the defaults a coach and patient start from and may change per goal.
- Steps: +/-500 steps a day per step (the issue's "500 more steps a day"), between
  1,000 and 12,000 a day; 7,000 a day (Paluch et al., Lancet Public Health 2022,
  see analytics/activity.py) is reached on the way.
- Fasting checks: +/-1 morning a week, between 1 and 7.
- Home blood pressure: 1 or 2 pairs a day; two pairs (morning and evening) is the
  home protocol (ESH 2021, see analytics/adherence.py).
- Weigh-ins: +/-1 day a week, between 1 and 7 (daily weighing: ESC 2021 heart failure).
- Medication: the prescribed doses a day, on +/-1 more day a week.
- Time in range: +/-5 percentage points between 30% and 70% (the consensus target
  is >70%, older or high-risk adults >50%: Battelino et al., Diabetes Care 2019).
- Self-reported behaviours (eating, coping, problem solving, reducing risks):
  +/-1 day a week, between 1 and 7; the patient reports, nothing is measured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.adherence import bp_sittings
from analytics.cgm import time_in_ranges
from analytics.timebase import coverage_s, day_label, local_day_and_minute
from analytics.trends import daily_values
from core.i18n import say
from core.metrics import Metric

logger = logging.getLogger(__name__)

EPOCH = date(1970, 1, 1)


class Behaviour(StrEnum):
    """The seven self-care behaviours (AADE7, now ADCES7: AADE, The Diabetes Educator
    2008;34(3):445-449)."""

    HEALTHY_EATING = "healthy_eating"
    BEING_ACTIVE = "being_active"
    MONITORING = "monitoring"
    TAKING_MEDICATION = "taking_medication"
    PROBLEM_SOLVING = "problem_solving"
    HEALTHY_COPING = "healthy_coping"
    REDUCING_RISKS = "reducing_risks"


class GoalKind(StrEnum):
    STEPS = "daily_steps"
    FASTING_CHECKS = "fasting_checks"
    BP_PAIRS = "bp_pairs"
    WEIGH_INS = "weigh_ins"
    MEDICATION = "medication_doses"
    TIME_IN_RANGE = "time_in_range"
    SELF_REPORT = "self_report"


@dataclass(frozen=True, slots=True)
class GoalKindSpec:
    kind: GoalKind
    behaviour: Behaviour
    metric: Metric | None  # None: self-reported
    unit: str
    per_day: bool  # True: target is per day, reached on ``days_required`` days
    step: float
    minimum: float
    maximum: float
    days_required: int | None  # default for per-day kinds
    text: str  # what the goal says, with {target} and {days}
    patient_part: str
    professional_part: str


GOAL_KINDS: dict[GoalKind, GoalKindSpec] = {
    s.kind: s
    for s in (
        GoalKindSpec(
            GoalKind.STEPS, Behaviour.BEING_ACTIVE, Metric.STEPS, "steps/day", True,
            500, 1000, 12000, 5,
            "Walk {target} steps a day on {days} days this week",
            "Wear the step counter and add a short walk to the day",
            "Review the week's steps with you and agree the next step",
        ),
        GoalKindSpec(
            GoalKind.FASTING_CHECKS, Behaviour.MONITORING, Metric.GLUCOSE, "mornings/week", False,
            1, 1, 7, None,
            "Check fasting glucose on {target} mornings this week",
            "Check glucose before breakfast and tag it 'fasting' on the meter",
            "Look at the fasting values with you and explain what they show",
        ),
        GoalKindSpec(
            GoalKind.BP_PAIRS, Behaviour.MONITORING, Metric.SYSTOLIC, "pairs/day", True,
            1, 1, 2, 5,
            "Take {target} blood-pressure pair(s) a day on {days} days this week",
            "Sit quietly for 5 minutes, then take two readings a minute apart",
            "Work out the home average and share it with your nurse",
        ),
        GoalKindSpec(
            GoalKind.WEIGH_INS, Behaviour.MONITORING, Metric.WEIGHT, "days/week", False,
            1, 1, 7, None,
            "Weigh yourself on {target} mornings this week",
            "Weigh after the toilet and before breakfast, in similar clothes",
            "Watch the trend and call you if it rises fast",
        ),
        GoalKindSpec(
            GoalKind.MEDICATION, Behaviour.TAKING_MEDICATION, Metric.MEDICATION_TAKEN,
            "doses/day", True, 1, 1, 7, 5,
            "Take all {target} dose(s) on {days} days this week",
            "Take the doses from the pill box at the agreed times",
            "Check the pill-box record and help with anything that gets in the way",
        ),
        GoalKindSpec(
            GoalKind.TIME_IN_RANGE, Behaviour.MONITORING, Metric.GLUCOSE, "% time in range",
            False, 5, 30, 70, None,
            "Spend {target}% of the week between 70 and 180 mg/dL",
            "Wear the sensor and look at it after meals",
            "Go through the week's glucose pattern with you",
        ),
        GoalKindSpec(
            GoalKind.SELF_REPORT, Behaviour.HEALTHY_EATING, None, "days/week", False,
            1, 1, 7, None,
            "{what} on {target} days this week",
            "Do it and tick the days off in the app",
            "Ask how it went and help with what got in the way",
        ),
    )
}


# --- Periods ----------------------------------------------------------------------------


def period_window(starts_on: date, period_days: int, index: int,
                  tz: str) -> tuple[datetime, datetime]:
    """Period ``index`` of a goal, [start, end) in UTC, from local midnights (DST-correct)."""
    zone = ZoneInfo(tz)
    first = starts_on + timedelta(days=index * period_days)
    last = first + timedelta(days=period_days)
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last, time(0), zone).astimezone(UTC)
    return start, end


def period_index_at(starts_on: date, period_days: int, when: datetime, tz: str) -> int:
    """Which period ``when`` falls in (negative before the goal starts)."""
    local_day = when.astimezone(ZoneInfo(tz)).date()
    return (local_day - starts_on).days // period_days


def to_us(when: datetime) -> int:
    return int(round(when.timestamp() * 1_000_000))


# --- Measuring --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measured:
    """Progress over one period (or the part of it so far), with its evidence."""

    achieved: float  # days reaching the per-day target, or the period's count or level
    target: float
    days_required: int | None
    met: bool
    unit: str
    days: tuple[str, ...]  # every local day of the window ...
    per_day: tuple[float, ...]  # ... and that day's amount (steps, pairs, checks, doses)
    summary: str  # plain words


def _day_numbers(start_us: int, end_us: int, tz: str) -> npt.NDArray[np.int64]:
    ends = np.array([start_us, end_us - 1], dtype=np.int64)
    day, _ = local_day_and_minute(ends, tz)
    return np.arange(int(day[0]), int(day[1]) + 1, dtype=np.int64)


def _per_day(found_days: npt.NDArray[np.int64], amounts: npt.NDArray[np.float64],
             days: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    lookup = {int(d): float(a) for d, a in zip(found_days, amounts, strict=True)}
    return np.array([lookup.get(int(d), 0.0) for d in days], dtype=np.float64)


def measure_per_day(
    days: npt.NDArray[np.int64],
    per_day: npt.NDArray[np.float64],
    *,
    target: float,
    days_required: int,
    unit: str,
    what: str,
) -> Measured:
    """A per-day target reached on enough days."""
    reached = int((per_day >= target - 1e-9).sum())
    return Measured(
        achieved=float(reached),
        target=target,
        days_required=days_required,
        met=reached >= days_required,
        unit=unit,
        days=tuple(day_label(int(d)) for d in days),
        per_day=tuple(float(v) for v in per_day),
        summary=f"{reached} of {days.size} days with {_num(target)} {what} or more"
        f" (goal: {days_required} days)",
    )


def measure_count(
    days: npt.NDArray[np.int64],
    per_day: npt.NDArray[np.float64],
    *,
    target: float,
    unit: str,
    what: str,
) -> Measured:
    """A count of days on which something was done, against a target count."""
    done = int((per_day > 0).sum())
    return Measured(
        achieved=float(done),
        target=target,
        days_required=None,
        met=done >= target,
        unit=unit,
        days=tuple(day_label(int(d)) for d in days),
        per_day=tuple(float(v) for v in per_day),
        summary=f"{done} {what} of the {_num(target)} planned",
    )


def steps_progress(times_us: npt.ArrayLike, steps: npt.ArrayLike, *, start_us: int, end_us: int,
                   tz: str, target: float, days_required: int) -> Measured:
    """Steps readings are counts since the previous report: a day's total is their sum."""
    found, totals = daily_values(times_us, steps, tz=tz, how="sum")
    days = _day_numbers(start_us, end_us, tz)
    return measure_per_day(days, _per_day(found, totals, days), target=target,
                           days_required=days_required, unit="steps/day", what="steps")


def fasting_checks_progress(fasting_times_us: npt.ArrayLike, *, start_us: int, end_us: int,
                            tz: str, target: float) -> Measured:
    """Mornings with a glucose check tagged 'fasting' (one counts per day)."""
    t = np.unique(np.asarray(fasting_times_us, dtype=np.int64))
    found, counts = daily_values(t, np.ones(t.size), tz=tz, how="sum")
    days = _day_numbers(start_us, end_us, tz)
    return measure_count(days, _per_day(found, counts, days), target=target,
                         unit="mornings/week", what="mornings checked")


def bp_pairs_progress(times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str,
                      target: float, days_required: int) -> Measured:
    """Sittings of at least two readings (a pair) per day: morning and evening count once each."""
    adherence = bp_sittings(times_us, start_us=start_us, end_us=end_us, tz=tz)
    days = _day_numbers(start_us, end_us, tz)
    per_day = np.asarray(adherence.per_day[: days.size], dtype=np.float64)
    return measure_per_day(days, per_day, target=target, days_required=days_required,
                           unit="pairs/day", what="pair(s)")


def weigh_ins_progress(times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str,
                       target: float) -> Measured:
    t = np.asarray(times_us, dtype=np.int64)
    found, counts = daily_values(t, np.ones(t.size), tz=tz, how="sum")
    days = _day_numbers(start_us, end_us, tz)
    return measure_count(days, _per_day(found, counts, days), target=target,
                         unit="days/week", what="days weighed")


def medication_progress(times_us: npt.ArrayLike, *, start_us: int, end_us: int, tz: str,
                        target: float, days_required: int) -> Measured:
    t = np.unique(np.asarray(times_us, dtype=np.int64))
    found, counts = daily_values(t, np.ones(t.size), tz=tz, how="sum")
    days = _day_numbers(start_us, end_us, tz)
    return measure_per_day(days, _per_day(found, counts, days), target=target,
                           days_required=days_required, unit="doses/day", what="dose(s)")


def time_in_range_progress(times_us: npt.ArrayLike, mg_dl: npt.ArrayLike, *, start_us: int,
                           end_us: int, tz: str, target: float) -> Measured:
    """Percent of CGM time 70-180 mg/dL (Battelino 2019), each reading weighted by its span."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(mg_dl, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    days = _day_numbers(start_us, end_us, tz)
    tir = time_in_ranges(v, coverage_s(t)).in_range if t.size else 0.0
    found, daily = (daily_values(t, (v >= 70) & (v <= 180), tz=tz, how="mean")
                    if t.size else (np.empty(0, np.int64), np.empty(0)))
    return Measured(
        achieved=round(tir, 1), target=target, days_required=None, met=t.size > 0 and tir >= target,
        unit="% time in range", days=tuple(day_label(int(d)) for d in days),
        per_day=tuple(round(100.0 * float(x), 1) for x in _per_day(found, daily, days)),
        summary=f"{tir:.0f}% of the time in range (goal: {_num(target)}%)",
    )


def self_report_progress(days_done: set[date], *, start: date, period_days: int,
                         target: float) -> Measured:
    days = np.arange((start - EPOCH).days, (start - EPOCH).days + period_days, dtype=np.int64)
    per_day = np.array([1.0 if EPOCH + timedelta(days=int(d)) in days_done else 0.0
                        for d in days])
    return measure_count(days, per_day, target=target, unit="days/week", what="days done")


@dataclass(frozen=True, slots=True)
class GoalStatus:
    """One active goal as the coaching rules see it (the ``goals`` feature of the context):
    its last finished period and this period so far. Built by care.plans.goal_statuses."""

    goal_id: str
    text: str  # the goal in plain words, at its current target
    kind: str
    behaviour: str
    target: float
    period_index: int  # the current period
    current: Measured | None  # this period so far (None for self-reported goals)
    last_index: int | None = None  # the last finished period, if any ...
    last_met: bool = False
    last_text: str = ""  # ... the goal as it was then
    last_summary: str = ""
    last_end_us: int | None = None
    last_outcome: str = ""
    next_target: float | None = None  # the target after that period's step


# --- Stepping ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """What one finished period does to a goal."""

    # stepped_up | kept_up (met at the top) | missed | stepped_down | kept (missed at the floor)
    outcome: str
    target: float
    level: int
    misses_in_row: int


MISSES_BEFORE_STEP_DOWN = 2  # issue 5: "down when it is missed twice" (in a row)


def next_step(*, met: bool, target: float, level: int, misses_in_row: int, step: float,
              minimum: float, maximum: float) -> Step:
    """Step up when met; step down when missed twice in a row; stay within the bounds."""
    if met:
        if target + step <= maximum + 1e-9:
            return Step("stepped_up", target + step, level + 1, 0)
        return Step("kept_up", target, level, 0)
    misses = misses_in_row + 1
    if misses < MISSES_BEFORE_STEP_DOWN:
        return Step("missed", target, level, misses)
    if target - step >= minimum - 1e-9:
        return Step("stepped_down", target - step, max(1, level - 1), 0)
    return Step("kept", target, level, 0)


def goal_text(kind: GoalKind, target: float, days_required: int | None, what: str = "") -> str:
    spec = GOAL_KINDS[kind]
    return spec.text.format(target=_num(target), days=days_required or "", what=what or "Do it")


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 else f"{x:,.1f}"


# --- The ladder in words ------------------------------------------------------------------

AMOUNT: dict[GoalKind, str] = {
    GoalKind.STEPS: "{t} steps a day",
    GoalKind.FASTING_CHECKS: "fasting checks on {t} mornings a week",
    GoalKind.BP_PAIRS: "{t} blood-pressure pair(s) a day",
    GoalKind.WEIGH_INS: "weighing on {t} days a week",
    GoalKind.MEDICATION: "all {t} dose(s) a day",
    GoalKind.TIME_IN_RANGE: "{t}% of the week in range",
    GoalKind.SELF_REPORT: "{t} days a week",
}


def amount_text(kind: GoalKind, target: float) -> str:
    """The goal's amount alone: '6,000 steps a day', 'weighing on 5 days a week'."""
    return AMOUNT[kind].format(t=_num(target))


def rule_text(kind: GoalKind, *, target: float, days_required: int | None, step: float,
              minimum: float, maximum: float, period_days: int = 7) -> str:
    """The ladder of ``next_step`` in words, for this goal at its current target."""
    spec = GOAL_KINDS[kind]
    if spec.per_day:
        met = f"Met on {days_required} of {period_days} days"
    elif kind is GoalKind.TIME_IN_RANGE:
        met = f"Met with {_num(target)}% of the week in range"
    else:
        met = f"Met on {_num(target)} of {period_days} days"
    if target + step <= maximum + 1e-9:
        up = f"{met} → next week's target rises to {amount_text(kind, target + step)}."
    else:
        up = f"{met} → it stays at {amount_text(kind, target)}, the top of this goal."
    if target - step >= minimum - 1e-9:
        down = (f"Missed {MISSES_BEFORE_STEP_DOWN} weeks in a row → it eases to "
                f"{amount_text(kind, target - step)}.")
    else:
        down = (f"Missed {MISSES_BEFORE_STEP_DOWN} weeks in a row → it stays at its easiest, "
                "and you talk with your coach about what gets in the way.")
    return f"{up} {down}"


def step_text(outcome: str, kind: GoalKind, *, old_target: float, new_target: float,
              summary: str) -> str:
    """What the patient is told when a finished period changes (or keeps) a goal: plain,
    positive words with the reason (the period's result)."""
    new = amount_text(kind, new_target)
    if outcome == "stepped_up":
        return say("Well done: you reached your goal ({summary}). Next week's goal is one "
                   "small step more: {goal}.", summary=summary, goal=new)
    if outcome == "kept_up":
        return say("Well done: you reached your goal again ({summary}). It is at the top of "
                   "its range, so it stays at {goal}: keep it up.", summary=summary, goal=new)
    if outcome == "missed":
        return say("Last week: {summary}. The goal stays at {goal}: a fresh start this week.",
                   summary=summary, goal=new)
    if outcome == "stepped_down":
        return say("Two weeks have been harder ({summary}), so the goal eases from {old} to "
                   "{goal}: a step to build from again.", summary=summary,
                   old=amount_text(kind, old_target), goal=new)
    return say("Two weeks have been harder ({summary}). The goal is already at its easiest, "
               "{goal}; your coach will talk it through with you.", summary=summary, goal=new)
