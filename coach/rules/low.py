"""Low glucose: below 70 mg/dL for at least 15 consecutive minutes, still going on.

Battelino 2019 International Consensus: level 1 hypoglycaemia is <70 mg/dL; an
event is >=15 consecutive minutes below the threshold (analytics/events.py).
"""

from __future__ import annotations

from analytics.events import EventKind
from analytics.targets import GLUCOSE_LOW_BELOW
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

SOURCE = "Battelino 2019: <70 mg/dL for >=15 consecutive minutes is a level 1 hypoglycaemic event"


class LowSettings(RuleSettings):
    pass


@rule("low", path="realtime", needs={"glucose"}, settings=LowSettings,
      description="glucose below 70 mg/dL for 15 minutes, event still ongoing")
def low(ctx: PatientContext, settings: LowSettings) -> list[FlagRequest]:
    g = ctx.glucose
    if g is None or g.latest is None or g.latest >= GLUCOSE_LOW_BELOW:
        return []  # back above 70 (the event is ongoing until 15 minutes of recovery)
    ongoing = [
        e for e in g.events
        if e.kind is EventKind.HYPO and e.level == 1 and e.ended == "ongoing"
    ]
    if not ongoing:
        return []
    e = ongoing[-1]
    if g.interval_min > 15.0:  # a meter (or sparse data): one reading stands for the event
        said = say("Your glucose reading was {lowest} mg/dL, below 70. Take 15 g of "
                   "fast-acting sugar and check again in 15 minutes.", lowest=f"{e.extreme:.0f}")
    else:
        said = say("Your glucose has been below 70 mg/dL for {minutes} minutes (lowest "
                   "{lowest}). Take 15 g of fast-acting sugar and check again in 15 minutes.",
                   minutes=f"{e.duration_min:.0f}", lowest=f"{e.extreme:.0f}")
    return [
        FlagRequest(
            flag_type="low",
            severity=Severity.HIGH,
            title=N_("Low glucose"),
            explanation=said,
            evidence={
                "started_at": iso_us(e.start_us),
                "minutes_below": round(e.duration_min, 1),
                "lowest": e.extreme,
                "lowest_at": iso_us(e.extreme_us),
                "threshold": GLUCOSE_LOW_BELOW,
                "source": SOURCE,
            },
            path="realtime",
            key=iso_us(e.start_us),
            group="hypo",
        )
    ]
