"""Rising fasting glucose: the daily fasting value (CGM median 05:00-07:00) has risen over
the last 14 days, with the whole 95% confidence interval of the Theil-Sen slope above zero
(analytics/trends.py), by at least ``min_rise_per_week``.

``min_rise_per_week`` (5 mg/dL a week) is Hearth's choice, not a guideline: smaller
steady rises are within day-to-day noise and would only add nudges.
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say


class RisingFastingSettings(RuleSettings):
    min_rise_per_week: float = 5.0  # mg/dL per week (Hearth's choice; see the module)
    min_days: int = 7  # days with a fasting value


@rule("rising_fasting", path="scheduled", needs={"glucose_history"},
      settings=RisingFastingSettings,
      cadence="daily",
      description="fasting glucose rising (Theil-Sen 95% CI above 0, >=5 mg/dL a week)")
def rising_fasting(ctx: PatientContext, settings: RisingFastingSettings) -> list[FlagRequest]:
    h = ctx.glucose_history
    trend = h.fasting_trend if h else None
    if h is None or trend is None or trend.points < settings.min_days:
        return []
    if trend.direction != "rising" or trend.slope_per_week < settings.min_rise_per_week:
        return []
    return [
        FlagRequest(
            flag_type="rising_fasting",
            severity=Severity.NORMAL,
            title=N_("Morning glucose creeping up"),
            explanation=say(
                "Your morning (fasting) glucose has been rising by about {rise} mg/dL a week "
                "over the last {days} days. Your coach can help you look at evenings and doses.",
                rise=f"{trend.slope_per_week:.0f}", days=trend.points),
            evidence={
                "days": list(h.fasting_days),
                "fasting": [round(v, 1) for v in h.fasting],
                "slope_per_week": round(trend.slope_per_week, 2),
                "ci_per_day": [round(trend.low_per_day, 3), round(trend.high_per_day, 3)],
                "source": "Theil-Sen slope with Sen 1968 95% CI; threshold: setting "
                "min_rise_per_week",
            },
            path="scheduled",
            key=h.fasting_days[-1] if h.fasting_days else "",
        )
    ]
