"""Predicted low: the forecast from the newest reading goes below 70 mg/dL within 30 minutes.

The forecast is analytics/forecast.py: the shipped neural network
(``live_model()``, passed to the context builder by both evaluators; its alarm is a
path below 70 + a margin calibrated on its training patients), or Nightscout's AR2
when the newest reading lacks 30 minutes of history. 70 mg/dL is the level 1
hypoglycaemia threshold (Battelino 2019; docs/CLINICAL.md). Figures on held-out
virtual patients: docs/ANALYTICS.md.
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

US_PER_MIN = 60_000_000


class PredictedLowSettings(RuleSettings):
    max_age_min: float = 10.0  # a forecast from an older reading says nothing about now


@rule("predicted_low", path="realtime", needs={"glucose"}, settings=PredictedLowSettings,
      description="forecast below 70 mg/dL within 30 minutes while now at or above 70")
def predicted_low(ctx: PatientContext, settings: PredictedLowSettings) -> list[FlagRequest]:
    g = ctx.glucose
    f = g.forecast if g else None
    if g is None or f is None or not f.predicted_low or f.current < 70.0:
        return []
    if ctx.now_us - f.at_us > settings.max_age_min * US_PER_MIN:
        return []
    minutes = f.minutes_to_low
    when = (say("in about {minutes} minutes", minutes=minutes) if minutes
            else N_("within 30 minutes"))
    return [
        FlagRequest(
            flag_type="predicted_low",
            severity=Severity.NORMAL,
            title=N_("A low may be coming"),
            explanation=say(
                "Your glucose is {value} mg/dL and falling; it may go below 70 {when}. "
                "A small snack now can prevent it.", value=f"{f.current:.0f}", when=when),
            evidence={
                "reading_at": iso_us(f.at_us),
                "current": f.current,
                "horizons_min": list(f.horizons_min),
                "predicted": [round(p, 1) for p in f.predicted],
                "model": f.model,
                "threshold": 70.0,
                "source": "Battelino 2019 level 1 threshold; forecast: analytics/forecast.py",
            },
            path="realtime",
            # one message per descent (a safety message is sent once per episode)
            key=f"descent:{iso_us(g.descent_since_us or f.at_us)}",
            group="hypo",
        )
    ]
