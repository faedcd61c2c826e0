"""Unusual inactivity at home: no motion for a stretch of the day in which this person
nearly always moves (coach/analytics/activity.py unusual_inactivity: the learned
15-minute-slot baseline of the past days; motion in that stretch on >=90% of >=7 days).
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule


class InactivitySettings(RuleSettings):
    pass


@rule("unusual_inactivity", path="scheduled", needs={"motion"}, settings=InactivitySettings,
      description="no motion at home when the learned baseline says there nearly always is")
def unusual_inactivity(ctx: PatientContext, settings: InactivitySettings) -> list[FlagRequest]:
    found = ctx.motion.inactivity if ctx.motion else None
    if found is None:
        return []
    return [FlagRequest(
        "unusual_inactivity", Severity.HIGH,
        f"We have not noticed any movement at home since {found.window[0]}; on most days "
        f"there is some by now. Are you all right? Tap OK to let us know.",
        {
            "last_motion_at": iso_us(found.since_us),
            "window": list(found.window),
            "days_with_motion": found.days_with_motion,
            "days_compared": found.days_compared,
            "usual_first_motion": found.usual_first_motion,
            "source": "learned motion baseline: motion in this stretch on >=90% of >=7 past days",
        },
        "scheduled", title="Quiet at home", key=iso_us(found.since_us),
    )]
