"""Each viewer's display preferences (core/appdb/reviews.py ``UserPreference``): glucose and
weight units, time zone and language; read once per request by the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.appdb.reviews import GLUCOSE_UNITS, WEIGHT_UNITS, UserPreference
from core.i18n import LANGUAGES


@dataclass(frozen=True, slots=True)
class Prefs:
    glucose_units: str = "mg/dL"
    timezone: str | None = None  # None: show each patient's own time zone
    locale: str | None = None  # language of words and dates (core/i18n.py); None: the browser's
    weight_units: str = "kg"  # "kg" or "lb" (dashboard/views/units.py)

    def zone_for(self, patient_tz: str) -> str:
        return self.timezone or patient_tz


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_prefs(engine: Engine, user_id: str) -> Prefs:
    with Session(engine) as session:
        row = session.get(UserPreference, user_id)
        if row is None:
            return Prefs()
        return Prefs(row.glucose_units, row.timezone, row.locale, row.weight_units or "kg")


def save_prefs(engine: Engine, user_id: str, prefs: Prefs, *, now: datetime) -> Prefs:
    if prefs.glucose_units not in GLUCOSE_UNITS:
        raise ValueError(f"glucose units must be one of {', '.join(GLUCOSE_UNITS)}")
    if prefs.timezone is not None and not valid_timezone(prefs.timezone):
        raise ValueError(f"unknown time zone {prefs.timezone!r}")
    if prefs.weight_units not in WEIGHT_UNITS:
        raise ValueError(f"weight units must be one of {', '.join(WEIGHT_UNITS)}")
    if prefs.locale is not None and prefs.locale not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    with Session(engine) as session:
        row = session.get(UserPreference, user_id) or UserPreference(user_id=user_id)
        row.glucose_units = prefs.glucose_units
        row.timezone = prefs.timezone
        row.locale = prefs.locale
        row.weight_units = prefs.weight_units
        row.updated_at = now
        session.add(row)
        session.commit()
    return prefs
