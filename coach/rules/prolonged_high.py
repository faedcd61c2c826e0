"""Prolonged high: above 250 mg/dL for at least 120 minutes, still going on.

Battelino et al., Diabetes Care 2023 (the consensus on CGM in clinical trials):
an extended hyperglycaemic event is >250 mg/dL for >=120 minutes
(analytics/events.py PROLONGED_S).
"""

from __future__ import annotations

from analytics.events import EventKind
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

SOURCE = "Battelino 2023: >250 mg/dL for >=120 minutes is an extended hyperglycaemic event"


class ProlongedHighSettings(RuleSettings):
    pass


@rule("prolonged_high", path="realtime", needs={"glucose"}, settings=ProlongedHighSettings,
      description="glucose above 250 mg/dL for 120 minutes, event still ongoing")
def prolonged_high(ctx: PatientContext, settings: ProlongedHighSettings) -> list[FlagRequest]:
    g = ctx.glucose
    if g is None:
        return []
    found = [
        e for e in g.events
        if e.kind is EventKind.HYPER and e.level == 2 and e.ended == "ongoing" and e.prolonged
    ]
    if not found:
        return []
    e = found[-1]
    return [
        FlagRequest(
            flag_type="prolonged_high",
            severity=Severity.NORMAL,
            title=N_("Glucose high for a while"),
            explanation=say(
                "Your glucose has been above 250 mg/dL for {hours} hours (highest {highest}). "
                "Drink water, check ketones if you have been told to, and follow your plan "
                "for highs.", hours=f"{e.duration_min / 60:.1f}", highest=f"{e.extreme:.0f}"),
            evidence={
                "started_at": iso_us(e.start_us),
                "minutes_above": round(e.duration_min, 1),
                "highest": e.extreme,
                "highest_at": iso_us(e.extreme_us),
                "threshold": 250.0,
                "source": SOURCE,
            },
            path="realtime",
            key=iso_us(e.start_us),
            group="high",
        )
    ]
