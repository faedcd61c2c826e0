"""Unusual inactivity at home: no motion for a stretch of the day in which this person
nearly always moves (analytics/activity.py unusual_inactivity: the learned
15-minute-slot baseline of the past days; motion in that stretch on >=90% of >=7 days).

Three guards, each a setting (Hearth's choices; no clinical standard exists), found by
running the simulated household through the coach (tests/coach/test_household_week.py):
- ``min_minutes`` (120): the stretch lasts at least two hours. Shorter quiet spells (a
  nap, a bath, a call in a room without a sensor) are ordinary; the baseline alone
  flags any 30-minute gap in an active person's day.
- ``min_usual_now`` (0.5): in the last hour this person is usually moving (motion in at
  least half of its quarter-hours on a typical day). Going to bed earlier than usual is
  not an emergency, and the baseline alone calls it one.
- a door opened at or after the last motion means the person most likely went out.
"""

from __future__ import annotations

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say


class InactivitySettings(RuleSettings):
    min_minutes: float = 120.0
    min_usual_now: float = 0.5
    door_means_out: bool = True

US_PER_MIN = 60_000_000
DOOR_BEFORE_MOTION_MIN = 10  # leaving: the door may open just before the last motion seen


@rule("unusual_inactivity", path="scheduled", needs={"motion"}, settings=InactivitySettings,
      description="no motion at home when the learned baseline says there nearly always is")
def unusual_inactivity(ctx: PatientContext, settings: InactivitySettings) -> list[FlagRequest]:
    m = ctx.motion
    found = m.inactivity if m else None
    if m is None or found is None:
        return []
    quiet_min = (found.now_us - found.since_us) / US_PER_MIN
    if quiet_min < settings.min_minutes or m.usual_now < settings.min_usual_now:
        return []
    went_out = m.last_door_us is not None and (
        m.last_door_us >= found.since_us - DOOR_BEFORE_MOTION_MIN * US_PER_MIN
    )
    if settings.door_means_out and went_out:
        return []
    return [FlagRequest(
        "unusual_inactivity", Severity.HIGH,
        say("We have not noticed any movement at home since {time}; on most days there is "
            "some by now. Are you all right? Tap OK to let us know.", time=found.window[0]),
        {
            "last_motion_at": iso_us(found.since_us),
            "window": list(found.window),
            "days_with_motion": found.days_with_motion,
            "days_compared": found.days_compared,
            "usual_first_motion": found.usual_first_motion,
            "quiet_minutes": round(quiet_min),
            "usual_motion_this_hour": round(m.usual_now, 2),
            "source": "learned motion baseline: motion in this stretch on >=90% of >=7 past days",
        },
        "scheduled", title=N_("Quiet at home"), key=iso_us(found.since_us),
    )]
