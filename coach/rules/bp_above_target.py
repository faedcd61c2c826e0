"""Home blood-pressure average above the person's target.

The average follows the 7-day home protocol (ESH 2021, Parati et al.: >=12 readings over
>=3 days, the first day left out; analytics/bp.py home_bp). The target is the
patient's own (Patient.targets bp_systolic / bp_diastolic); without one, the ESH home
threshold 135/85 mmHg (or ACC/AHA 130/80 with ``guideline="acc_aha"``), docs/CLINICAL.md.
"""

from __future__ import annotations

from typing import Literal

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, rule
from core.i18n import N_, say

DEFAULTS = {"esh": (135.0, 85.0), "acc_aha": (130.0, 80.0)}


class BpAboveTargetSettings(RuleSettings):
    guideline: Literal["esh", "acc_aha"] = "esh"


@rule("bp_above_target", path="scheduled", needs={"bp"}, settings=BpAboveTargetSettings,
      cadence="daily",
      description="valid 7-day home average at or above the person's target (ESH 135/85)")
def bp_above_target(ctx: PatientContext, settings: BpAboveTargetSettings) -> list[FlagRequest]:
    home = ctx.bp.home if ctx.bp else None
    if home is None or not home.valid:
        return []
    default_s, default_d = DEFAULTS[settings.guideline]
    target_s = ctx.target("bp_systolic", default_s)
    target_d = ctx.target("bp_diastolic", default_d)
    if home.systolic < target_s and home.diastolic < target_d:
        return []
    last = home.sittings[-1].date if home.sittings else ""
    return [FlagRequest(
        "bp_above_target", Severity.NORMAL,
        say("Your blood pressure at home was {average} mmHg on average over {days} days. "
            "That is above your target of {target}. Your care team will look at it. Keep "
            "measuring morning and evening.",
            average=f"{home.systolic:.0f}/{home.diastolic:.0f}", days=home.days_used,
            target=f"{target_s:.0f}/{target_d:.0f}"),
        {
            "average": [round(home.systolic, 1), round(home.diastolic, 1)],
            "target": [target_s, target_d],
            "readings_used": home.readings_used,
            "days_used": home.days_used,
            "discarded_day": home.discarded_day,
            "sittings": [
                {"date": s.date, "slot": s.slot, "systolic": round(s.systolic, 1),
                 "diastolic": round(s.diastolic, 1)}
                for s in home.sittings
            ],
            "source": "ESH 2021 home protocol (>=12 readings, >=3 days); target: patient's, "
            f"else {settings.guideline}",
        },
        "scheduled", title=N_("Blood pressure above your target"), key=last, clinical=True,
    )]
