"""Heart-failure weight gain on today's weigh-in: >2 kg in 3 days (ESC 2021) or >=2.3 kg
in a week (AHA/HFSA), docs/CLINICAL.md "Heart-failure weight"; analytics/weight.py
heart_failure_warnings. No overnight rule: normal day-to-day swings are about 1 kg.

A safety message (coach/safety.py): the patient hears at once, at any hour, and the nurse
gets a clinical alert. The message promises nothing nobody guarantees.
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say


class HfWeightGainSettings(RuleSettings):
    require_condition: bool = True  # only for people with heart failure on their record


@rule("hf_weight_gain", path="realtime", needs={"weight"}, settings=HfWeightGainSettings,
      description="weight up >2 kg in 3 days or 2.3 kg in a week (heart failure)")
def hf_weight_gain(ctx: PatientContext, settings: HfWeightGainSettings) -> list[FlagRequest]:
    w = ctx.weight
    if w is None or not w.warnings:
        return []
    if settings.require_condition and "heart_failure" not in ctx.conditions:
        return []
    if w.latest_date != ctx.local_day():
        return []  # only today's weigh-in is news
    biggest = max(w.warnings, key=lambda x: x.gain_kg)
    span = N_("in 3 days") if biggest.reason == "gain_3_days" else N_("in a week")
    return [FlagRequest(
        "hf_weight_gain", Severity.HIGH,
        say("Your weight is up {gain} kg {span} ({start} to {end} kg). This can be fluid "
            "building up. Check your ankles and breathing, follow your heart-failure plan, and "
            "call your heart-failure nurse or GP today. Your care team can see this too.",
            gain=f"{biggest.gain_kg:.1f}", span=span, start=f"{biggest.from_kg:.1f}",
            end=f"{biggest.to_kg:.1f}"),
        {
            "warnings": [
                {"reason": x.reason, "gain_kg": round(x.gain_kg, 2), "from": x.from_date,
                 "from_kg": x.from_kg, "to": x.to_date, "to_kg": x.to_kg}
                for x in w.warnings
            ],
            "days": list(w.days[-7:]),
            "daily_kg": list(w.daily_kg[-7:]),
            "source": "ESC 2021 HF: >2 kg in 3 days; AHA/HFSA: 2.3 kg (5 lb) in a week "
                      "(docs/CLINICAL.md)",
        },
        "realtime", title=N_("Weight going up quickly"), key=w.latest_date, clinical=True,
    )]
