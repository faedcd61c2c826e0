"""Personal best: yesterday's step count was the highest of all the days on record
(at least ``min_history_days`` of them, so that a new user's second day is no "best")."""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say


class PersonalBestSettings(RuleSettings):
    min_history_days: int = 14


@rule("personal_best", path="scheduled", needs={"steps"}, settings=PersonalBestSettings,
      cadence="daily",
      description="yesterday's steps above every earlier day (>=14 days of history)")
def personal_best(ctx: PatientContext, settings: PersonalBestSettings) -> list[FlagRequest]:
    s = ctx.steps
    if s is None or len(s.totals) <= settings.min_history_days:
        return []
    if s.days[-1] != ctx.local_day(-1):
        return []
    best_before = max(s.totals[:-1])
    if s.totals[-1] <= best_before:
        return []
    return [FlagRequest(
        "personal_best", Severity.POSITIVE,
        say("{steps} steps yesterday. That is your best day in the last {days} days. Your "
            "best before was {before}. Well done!", steps=f"{s.totals[-1]:,.0f}",
            days=len(s.totals), before=f"{best_before:,.0f}"),
        {"date": s.days[-1], "steps": s.totals[-1], "previous_best": best_before,
         "days_compared": len(s.totals) - 1},
        "scheduled", title=N_("A personal best"), key=s.days[-1],
    )]
