"""Goal reached: positive reinforcement when a plan goal is met (docs/DESIGN.md §5: "keep joint
records of achievement and show progress back to the patient").

Two moments, each celebrated once (the key names the goal and the period):
- a finished period was met (within ``recent_hours`` of its end): well done, and the
  next small step the goal has moved to;
- this period's goal is already reached before the period ends (count goals such as
  "fasting glucose on 5 mornings", or per-day goals reached on enough days).

The rule reads the ``goals`` feature of the context: a tuple of care.goals.GoalStatus
built by care.plans.goal_statuses(session, store, patient_id, now), which evaluates
the finished periods first, and handed to build_context(goals=...). Without goals the
rule finds nothing (it never guesses goals from other data).
"""

from __future__ import annotations

from collections.abc import Sequence

from care.goals import GoalStatus
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say

US_PER_HOUR = 3_600_000_000


class GoalReachedSettings(RuleSettings):
    recent_hours: float = 36.0  # a finished period is news for a day and a half
    celebrate_early: bool = True  # also when this period's goal is reached before it ends


@rule("goal_reached", path="scheduled", needs={"goals"}, settings=GoalReachedSettings,
      description="a plan goal met: the finished period, or this period reached early")
def goal_reached(ctx: PatientContext, settings: GoalReachedSettings) -> list[FlagRequest]:
    statuses: Sequence[GoalStatus] = ctx.goals
    out: list[FlagRequest] = []
    for status in statuses:
        finished = _finished(ctx, status, settings)
        if finished is not None:
            out.append(finished)
        elif settings.celebrate_early:
            out.extend(_early(status))
    return out


def _finished(ctx: PatientContext, s: GoalStatus,
              settings: GoalReachedSettings) -> FlagRequest | None:
    if not s.last_met or s.last_end_us is None or s.last_index is None:
        return None
    if not 0 <= ctx.now_us - s.last_end_us <= settings.recent_hours * US_PER_HOUR:
        return None
    step_up = s.last_outcome == "stepped_up"
    reached = say("You reached your goal: {goal} ({summary}). Well done!", goal=s.last_text,
                  summary=s.last_summary)
    if step_up:
        reached = say("{reached} Next small step: {step}.", reached=reached,
                      step=f"{s.text[0].lower()}{s.text[1:]}")
    return FlagRequest(
        "goal_reached", Severity.POSITIVE, reached,
        {"goal_id": s.goal_id, "period_index": s.last_index, "goal": s.last_text,
         "summary": s.last_summary, "outcome": s.last_outcome, "next_target": s.next_target},
        "scheduled", title=N_("Goal reached"), key=f"{s.goal_id}:{s.last_index}",
    )


def _early(s: GoalStatus) -> list[FlagRequest]:
    m = s.current
    if m is None or not m.met or s.period_index < 0:
        return []
    return [FlagRequest(
        "goal_reached", Severity.POSITIVE,
        say("You have already reached this week's goal: {goal} ({summary}). Great going!",
            goal=s.text, summary=m.summary),
        {"goal_id": s.goal_id, "period_index": s.period_index, "goal": s.text,
         "summary": m.summary, "achieved": m.achieved, "days": list(m.days),
         "per_day": list(m.per_day)},
        "scheduled", title=N_("Goal reached early"), key=f"{s.goal_id}:{s.period_index}:early",
    )]
