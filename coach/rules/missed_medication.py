"""Missed medication: fewer pill-box openings today than doses already due.

A dose is due once its scheduled time (Patient.targets ``medication_times``, local
"HH:MM", or this rule's ``times``) plus ``grace_min`` has passed. The 120-minute grace
is Hearth's choice (a dose taken within two hours of its time is on time for most
once- or twice-daily medicines); tune it per patient.
"""

from __future__ import annotations

from pydantic import field_validator

from coach.context import PatientContext
from coach.rules.base import FlagRequest, RuleSettings, Severity, iso_us, rule
from core.i18n import N_, say


class MissedMedicationSettings(RuleSettings):
    times: tuple[str, ...] | None = None  # None: Patient.targets["medication_times"]
    grace_min: float = 120.0

    @field_validator("times")
    @classmethod
    def _hhmm(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            _minutes(text)
        return value


def _minutes(text: str) -> int:
    hh, mm = text.split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"not a time of day: {text!r}")
    return 60 * h + m


@rule("missed_medication", path="scheduled", needs={"medication"},
      settings=MissedMedicationSettings,
      description="pill-box openings today fewer than doses due (time + 2 h grace)")
def missed_medication(ctx: PatientContext, settings: MissedMedicationSettings) -> list[FlagRequest]:
    m = ctx.medication
    times = settings.times or tuple(ctx.targets.get("medication_times") or ())
    if m is None or not times:
        return []
    minute = ctx.local_minute()
    due = [t for t in times if _minutes(t) + settings.grace_min <= minute]
    taken = len(m.openings_today_us)
    if len(due) <= taken:
        return []
    missed = due[taken:]  # the latest due doses are the ones not covered
    return [FlagRequest(
        "missed_medication", Severity.NORMAL,
        say("Doses taken today, as your pill box shows: {taken} of {due}. Not yet: {missed}. "
            "If you have not taken it, take it now unless your plan says otherwise.",
            taken=taken, due=len(due), missed=", ".join(missed)),
        {
            "date": m.today,
            "scheduled": list(times),
            "due": due,
            "openings": [iso_us(t) for t in m.openings_today_us],
            "grace_min": settings.grace_min,
            "source": "pill-box openings vs schedule; grace: setting grace_min",
        },
        "scheduled", title=N_("A dose may be missed"), key=f"{m.today}:{len(due)}",
    )]
