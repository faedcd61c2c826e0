"""Streaks: consecutive days up to yesterday meeting the daily step goal, celebrated at
milestones (3, 7, 14, 30 days). The goal is the patient's ``steps_per_day`` target, else
analytics/activity.py DEFAULT_STEP_GOAL."""

from __future__ import annotations

from datetime import date, timedelta

from analytics.activity import DEFAULT_STEP_GOAL
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import say


class StreakSettings(RuleSettings):
    milestones: tuple[int, ...] = (3, 7, 14, 30)


@rule("step_streak", path="scheduled", needs={"steps"}, settings=StreakSettings,
      cadence="daily",
      description="step goal met on 3/7/14/30 days in a row up to yesterday")
def step_streak(ctx: PatientContext, settings: StreakSettings) -> list[FlagRequest]:
    s = ctx.steps
    if s is None or not s.days or s.days[-1] != ctx.local_day(-1):
        return []
    goal = ctx.target("steps_per_day", float(DEFAULT_STEP_GOAL))
    length, expected = 0, date.fromisoformat(s.days[-1])
    for day, total in zip(reversed(s.days), reversed(s.totals), strict=True):
        if date.fromisoformat(day) != expected or total < goal:
            break
        length += 1
        expected -= timedelta(days=1)
    if length not in settings.milestones:
        return []
    return [FlagRequest(
        "step_streak", Severity.POSITIVE,
        say("{days} days in a row at {goal} steps or more. Keep it going!", days=length,
            goal=f"{goal:,.0f}"),
        {"days": list(s.days[-length:]), "steps": list(s.totals[-length:]), "goal": goal,
         "streak_days": length},
        "scheduled", title=say("{days}-day streak", days=length), key=s.days[-1],
    )]
