"""Heart-failure weight gain: >2 kg in 3 days or >1 kg overnight (DESIGN.md §6; ESC 2021
heart-failure guidelines, patient self-care), on today's weigh-in
(analytics/weight.py heart_failure_warnings).
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule


class HfWeightGainSettings(RuleSettings):
    require_condition: bool = True  # only for people with heart failure on their record


@rule("hf_weight_gain", path="realtime", needs={"weight"}, settings=HfWeightGainSettings,
      description="weight up >2 kg in 3 days or >1 kg overnight (heart failure)")
def hf_weight_gain(ctx: PatientContext, settings: HfWeightGainSettings) -> list[FlagRequest]:
    w = ctx.weight
    if w is None or not w.warnings:
        return []
    if settings.require_condition and "heart_failure" not in ctx.conditions:
        return []
    if w.latest_date != ctx.local_day():
        return []  # only today's weigh-in is news
    biggest = max(w.warnings, key=lambda x: x.gain_kg)
    span = "in 3 days" if biggest.reason == "gain_3_days" else "since yesterday"
    return [FlagRequest(
        "hf_weight_gain", Severity.HIGH,
        f"Your weight is up {biggest.gain_kg:.1f} kg {span} ({biggest.from_kg:.1f} to "
        f"{biggest.to_kg:.1f} kg). This can be fluid building up: check your ankles and "
        "breathing, and your nurse will call you today.",
        {
            "warnings": [
                {"reason": x.reason, "gain_kg": round(x.gain_kg, 2), "from": x.from_date,
                 "from_kg": x.from_kg, "to": x.to_date, "to_kg": x.to_kg}
                for x in w.warnings
            ],
            "days": list(w.days[-7:]),
            "daily_kg": list(w.daily_kg[-7:]),
            "source": "ESC 2021 HF self-care: >2 kg in 3 days or >1 kg overnight",
        },
        "realtime", title="Weight going up quickly", key=w.latest_date, clinical=True,
    )]
