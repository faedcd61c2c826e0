"""Signal loss while low: no CGM reading for 20 minutes or more while the last one was
below 70 mg/dL (docs/CLINICAL.md "Glucose": Dexcom's signal-loss alert, 20 minutes;
Nightscout's urgent stale data at 30). Urgent, with the ladder, when the last reading was
below 54; a safety message to the patient otherwise. Once per silence (its key is the last
reading's time).

Nothing arrives to wake the real-time path when a sensor goes quiet, so the coach's
escalation tick runs this rule over the newest glucose value of every patient
(coach/episodes.py ``silent_while_low``); it is a real rule all the same, tuned and
switched like the others.
"""

from __future__ import annotations

from analytics.targets import GLUCOSE_LOW_BELOW, GLUCOSE_VERY_LOW_BELOW
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

US_PER_MIN = 60_000_000
SOURCE = "no CGM reading for 20 minutes while low (Dexcom signal-loss alert; docs/CLINICAL.md)"


class SignalLossSettings(RuleSettings):
    after_min: float = 20.0
    give_up_h: float = 12.0  # a sensor removed long ago is the device-silent rule's business


@rule("signal_loss_low", path="scheduled", needs={"glucose"}, settings=SignalLossSettings,
      description="no CGM reading for 20 minutes while the last one was below 70 mg/dL",
      cadence="watch")
def signal_loss_low(ctx: PatientContext, settings: SignalLossSettings) -> list[FlagRequest]:
    g = ctx.glucose
    if g is None or g.latest is None or g.latest_us is None or g.latest >= GLUCOSE_LOW_BELOW:
        return []
    silent_min = (ctx.now_us - g.latest_us) / US_PER_MIN
    if silent_min < settings.after_min or silent_min > settings.give_up_h * 60:
        return []
    very_low = g.latest < GLUCOSE_VERY_LOW_BELOW
    minutes, value = f"{silent_min:.0f}", f"{g.latest:.0f}"
    if very_low:
        said = say("Your sensor has sent nothing for {minutes} minutes. Your last glucose was "
                   "{value} mg/dL: very low. Check your glucose with a finger-stick now. Treat "
                   "a low with 15 g of fast-acting sugar.", minutes=minutes, value=value)
    else:
        said = say("Your sensor has sent nothing for {minutes} minutes. Your last glucose was "
                   "{value} mg/dL: low. Check your glucose with a finger-stick now. Treat a "
                   "low with 15 g of fast-acting sugar.", minutes=minutes, value=value)
    return [FlagRequest(
        flag_type="signal_loss_low",
        severity=Severity.URGENT if very_low else Severity.HIGH,
        title=N_("No glucose readings while low"),
        explanation=said,
        evidence={"last_reading_at": iso_us(g.latest_us), "last_value": g.latest,
                  "silent_minutes": round(silent_min), "after_min": settings.after_min,
                  "source": SOURCE},
        path="scheduled",
        key=f"silent:{iso_us(g.latest_us)}",
        group="signal_loss",
        clinical=very_low,
    )]
