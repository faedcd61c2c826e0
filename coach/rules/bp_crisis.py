"""Blood-pressure crisis, with the re-measure rule.

docs/CLINICAL.md / AHA: >=180 systolic or >=120 diastolic needs urgent advice. A single
high reading is first re-measured after 5 minutes' rest; analytics/bp.py
``crises`` gives each crisis reading's status: RECHECK (no repeat yet, within 15 min),
CONFIRMED (the repeat is still at crisis level), UNVERIFIED (no repeat within 15 min:
treated as urgent), NOT_CONFIRMED (the repeat is below crisis level: no flag).

Two registrations of the same check: ``bp_crisis`` on the real-time path (new BP
readings), and ``bp_crisis_check`` on the hourly scheduled path, because a crisis whose
repeat never comes produces no new reading to wake the real-time path: the hourly check
finds it UNVERIFIED and starts the ladder. (The re-measure message already tells the
person to call their care team if they cannot measure again.) Both give the same flag
types and keys, so nothing is said twice.
"""

from __future__ import annotations

from analytics.bp import CrisisStatus
from coach.context import PatientContext
from coach.rules.base import FlagRequest, RulePath, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say

SOURCE = ("docs/CLINICAL.md (AHA): >=180 systolic or >=120 diastolic is a crisis; "
          "re-measure after 5 min")


class BpCrisisSettings(RuleSettings):
    pass


def _crisis(ctx: PatientContext, path: RulePath) -> list[FlagRequest]:
    if ctx.bp is None or not ctx.bp.crises:
        return []
    c = ctx.bp.crises[-1]
    evidence: dict[str, object] = {
        "reading_at": iso_us(c.time_us),
        "systolic": c.systolic,
        "diastolic": c.diastolic,
        "status": c.status.value,
        "source": SOURCE,
    }
    if c.repeat is not None:
        evidence["repeat"] = {"at": iso_us(c.repeat[0]), "systolic": c.repeat[1],
                              "diastolic": c.repeat[2]}
    reading = f"{c.systolic:.0f}/{c.diastolic:.0f}"
    if c.status is CrisisStatus.RECHECK:
        return [FlagRequest(
            "bp_crisis_recheck", Severity.URGENT,
            say("Your blood pressure was {reading} mmHg, very high. Sit quietly for 5 minutes "
                "and measure again now. If you cannot, or it is still this high, call your "
                "care team.", reading=reading),
            evidence, path, title=N_("Measure your blood pressure again"),
            key=f"{iso_us(c.time_us)}:recheck", group="bp_crisis", patient_only=True,
        )]
    if c.status is CrisisStatus.NOT_CONFIRMED:
        return []
    said = (say("Your blood pressure was {reading} mmHg. It was still that high when you "
                "measured again. Get help now: call your care team. Call 999 if you have chest "
                "pain, are short of breath, feel weak or find it hard to speak.", reading=reading)
            if c.status is CrisisStatus.CONFIRMED else
            say("Your blood pressure was {reading} mmHg, and there was no second reading. Get "
                "help now: call your care team. Call 999 if you have chest pain, are short of "
                "breath, feel weak or find it hard to speak.", reading=reading))
    return [FlagRequest(
        "bp_crisis", Severity.URGENT, said,
        evidence, path, title=N_("Very high blood pressure"),
        key=f"{iso_us(c.time_us)}:{c.status.value}", group="bp_crisis", clinical=True,
    )]



DESCRIPTION = ">=180/120 mmHg: re-measure first; confirmed or unverified -> urgent"


@rule("bp_crisis", path="realtime", needs={"bp"}, settings=BpCrisisSettings,
      description=DESCRIPTION)
def bp_crisis(ctx: PatientContext, settings: BpCrisisSettings) -> list[FlagRequest]:
    return _crisis(ctx, "realtime")


@rule("bp_crisis_check", path="scheduled", needs={"bp"}, settings=BpCrisisSettings,
      description=DESCRIPTION + " (hourly: a crisis with no repeat reading)")
def bp_crisis_check(ctx: PatientContext, settings: BpCrisisSettings) -> list[FlagRequest]:
    return _crisis(ctx, "scheduled")
