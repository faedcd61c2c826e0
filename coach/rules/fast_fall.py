"""Fast fall: CGM glucose falling at 3 mg/dL/min or more over the last 15 minutes
(docs/CLINICAL.md "Glucose": Dexcom's fall-rate alert, Nightscout's DoubleDown;
analytics/arrows.py fast_fall). A safety message to the patient, once per fall.
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

SOURCE = "falling >=3 mg/dL/min over 15 minutes (Dexcom fall-rate alert; docs/CLINICAL.md)"
US_PER_MIN = 60_000_000


class FastFallSettings(RuleSettings):
    max_age_min: float = 10.0  # the newest reading must be this fresh to speak of "now"


@rule("fast_fall", path="realtime", needs={"glucose"}, settings=FastFallSettings,
      description="CGM glucose falling 3 mg/dL a minute or faster for 15 minutes")
def fast_fall(ctx: PatientContext, settings: FastFallSettings) -> list[FlagRequest]:
    g = ctx.glucose
    if g is None or g.fall is None or g.latest is None or g.latest_us is None:
        return []
    if ctx.now_us - g.latest_us > settings.max_age_min * US_PER_MIN:
        return []
    rate, since_us = g.fall
    return [FlagRequest(
        flag_type="fast_fall",
        severity=Severity.HIGH,
        title=N_("Glucose falling fast"),
        explanation=say(
            "Your glucose is {value} mg/dL and falling fast, about {fall} mg/dL every 15 "
            "minutes. Check how you feel and have fast-acting sugar ready.",
            value=f"{g.latest:.0f}", fall=f"{-rate * 15:.0f}"),
        evidence={"reading_at": iso_us(g.latest_us), "value": g.latest,
                  "rate_mg_dl_min": round(rate, 2), "falling_since": iso_us(since_us),
                  "threshold_mg_dl_min": -3.0, "source": SOURCE},
        path="realtime",
        key=f"fall:{iso_us(since_us)}",
        group="glucose_fall",
        patient_only=True,
    )]
