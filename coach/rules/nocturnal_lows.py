"""Nocturnal-low pattern: lows between 02:00 and 04:00 on at least 3 of the last 7 nights.

analytics/patterns.py nocturnal_lows (<70 mg/dL for >=15 minutes in the window,
Battelino 2019 event duration).
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say


class NocturnalLowsSettings(RuleSettings):
    pass


@rule("nocturnal_lows", path="scheduled", needs={"glucose_history"},
      settings=NocturnalLowsSettings,
      cadence="daily",
      description="lows 02:00-04:00 on >=3 of the last 7 nights")
def nocturnal_lows(ctx: PatientContext, settings: NocturnalLowsSettings) -> list[FlagRequest]:
    h = ctx.glucose_history
    p = h.nocturnal if h else None
    if p is None or not p.found:
        return []
    return [
        FlagRequest(
            flag_type="nocturnal_lows",
            severity=Severity.HIGH,
            title=N_("Lows at night"),
            explanation=say(
                "Your glucose went below 70 mg/dL between {start} and {end} on {nights} of the "
                "last {checked} nights. Your coach will talk with you about your evening "
                "routine and doses.", start=p.window[0], end=p.window[1], nights=p.days_with,
                checked=p.days_checked),
            evidence={
                "nights": [
                    {"date": d.date, "minutes_below": round(d.minutes_beyond, 1),
                     "lowest": d.extreme}
                    for d in p.evidence
                ],
                "window": list(p.window),
                "threshold": p.threshold,
                "source": "patterns.nocturnal_lows: <70 mg/dL >=15 min (Battelino 2019) on >=3 "
                "of 7 nights",
            },
            path="scheduled",
            key=p.evidence[-1].date,
            clinical=True,
        )
    ]
