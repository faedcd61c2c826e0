"""Each clinic's engagement thresholds: read, check and change them (issue 20).

care/engagement.py judges engagement with ``EngagementSettings``; a clinic overrides any of
its fields with a row of ``engagement_settings`` (core/appdb/engagement.py). This module is
what the clinic page (dashboard/views/engagement_settings.py) and ``hearth admin
engagement`` share: the list of thresholds with their meaning and allowed range, the check
of a change (every error in words, nothing saved unless all are right), and the read and
the write. The ranges are sanity limits, not clinical numbers: none of these thresholds is
one (docs/COACH.md "Engagement"); they decide who is called first, never a treatment.

A change stores only the values that differ from Hearth's defaults, so a clinic that keeps
a default follows it if the default changes; an empty field means "Hearth's default".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.engagement import DEVICE_WORDS, EngagementSettings
from core.appdb import engagement as rows
from core.appdb.accounts import Clinic


@dataclass(frozen=True, slots=True)
class Threshold:
    """One threshold as the page and the command show it."""

    name: str  # EngagementSettings' field, or "expected_days.<device kind>"
    meaning: str
    kind: type  # int or float
    low: float
    high: float


_MEANINGS: dict[str, tuple[str, type, float, float]] = {
    "window_days": ("days looked back at for device use, messages and not-useful answers",
                    int, 1, 90),
    "scale_days_heart_failure": ("days a week a person with heart failure is expected to "
                                 "weigh (ESC 2021 HF: daily)", int, 0, 7),
    "device_slipping_ratio": ("a device used on fewer than this share of its expected days "
                              "is a sign of slipping", float, 0.01, 1.0),
    "device_disengaged_ratio": ("... fewer than this share: a sign of disengaging", float,
                                0.0, 0.99),
    "silent_all_days": ("days without a reading from any device", int, 1, 90),
    "nudges_min": ("messages delivered before their opening counts", int, 1, 100),
    "nudges_opened_below": ("share of messages opened under which it is a sign", float,
                            0.0, 1.0),
    "not_useful_min": ("\"not useful\" answers in the window that make a sign", int, 1, 100),
    "checkin_overdue_days": ("days since the last check-in", int, 7, 365),
    "goal_window_days": ("days looked back at for goals given up", int, 7, 180),
    "goals_missed_in_row": ("weeks a goal is missed in a row", int, 1, 12),
    "sign_in_slipping_days": ("days without signing in: slipping", int, 1, 365),
    "sign_in_disengaged_days": ("days without signing in: disengaging", int, 1, 365),
    "group_quiet_days": ("days without a post in the person's peer group", int, 1, 365),
    "slipping_points": ("points from which a person is slipping", float, 0.5, 50.0),
    "disengaged_points": ("points from which a person is disengaged", float, 0.5, 50.0),
    "full_points": ("points at which the outreach score is 1", float, 1.0, 100.0),
    "outreach_due_hours": ("hours within which an outreach task is due", int, 1, 720),
}


def thresholds() -> tuple[Threshold, ...]:
    """Every threshold a clinic may change, in EngagementSettings' order."""
    out: list[Threshold] = []
    for f in fields(EngagementSettings):
        if f.name == "expected_days":
            for kind in EngagementSettings().expected_days:
                what = DEVICE_WORDS.get(kind, kind)
                out.append(Threshold(f"expected_days.{kind}",
                                     f"days a week the {what} is expected in use", int, 0, 7))
            continue
        meaning, kind_of, low, high = _MEANINGS[f.name]
        out.append(Threshold(f.name, meaning, kind_of, low, high))
    return tuple(out)


def defaults() -> dict[str, float]:
    return _flat(EngagementSettings())


def _flat(s: EngagementSettings) -> dict[str, float]:
    out: dict[str, float] = {}
    for t in thresholds():
        if t.name.startswith("expected_days."):
            out[t.name] = s.expected_days[t.name.split(".", 1)[1]]
        else:
            out[t.name] = getattr(s, t.name)
    return out


def _nested(flat: Mapping[str, float]) -> dict[str, Any]:
    """Flat names ("expected_days.scale") -> EngagementSettings.from_overrides' shape."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        if name.startswith("expected_days."):
            out.setdefault("expected_days", {})[name.split(".", 1)[1]] = value
        else:
            out[name] = value
    return out


class ThresholdError(ValueError):
    """A change that was refused; ``errors``: threshold name -> what is wrong, in words."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def check(values: Mapping[str, str]) -> dict[str, float]:
    """A clinic's thresholds from text (a form, the command line): blank = the default.
    Returns the overrides (only the values that differ from the defaults); raises
    ThresholdError with every problem at once."""
    known = {t.name: t for t in thresholds()}
    errors: dict[str, str] = {}
    for name in values:
        if name not in known:
            errors[name] = "not an engagement threshold (hearth admin engagement show lists them)"
    chosen = defaults()
    for name, t in known.items():
        text = (values.get(name) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            errors[name] = f"a number from {t.low:g} to {t.high:g}"
            continue
        if not math.isfinite(number) or not t.low <= number <= t.high:
            errors[name] = f"a number from {t.low:g} to {t.high:g}"
        elif t.kind is int and number != int(number):
            errors[name] = f"a whole number from {t.low:g} to {t.high:g}"
        else:
            chosen[name] = int(number) if t.kind is int else number
    if not errors:
        errors.update(_together(chosen))
    if errors:
        raise ThresholdError(errors)
    base = defaults()
    return {k: v for k, v in chosen.items() if v != base[k]}


def _together(v: Mapping[str, float]) -> dict[str, str]:
    """The rules between thresholds (each pair's order)."""
    errors: dict[str, str] = {}
    if v["slipping_points"] > v["disengaged_points"]:
        errors["slipping_points"] = "at most the points of disengaged"
    if v["device_disengaged_ratio"] >= v["device_slipping_ratio"]:
        errors["device_disengaged_ratio"] = "below the share of slipping"
    if v["sign_in_slipping_days"] >= v["sign_in_disengaged_days"]:
        errors["sign_in_slipping_days"] = "fewer days than disengaging"
    if v["full_points"] < v["disengaged_points"]:
        errors["full_points"] = "at least the points of disengaged"
    return errors


@dataclass(frozen=True, slots=True)
class ClinicThresholds:
    clinic_id: str
    clinic_name: str
    values: dict[str, float]  # what applies now (defaults with the overrides)
    overrides: dict[str, float]  # what the clinic changed
    updated_by: str | None
    updated_at: datetime | None


def clinics(engine: Engine) -> dict[str, str]:
    """Every clinic, id -> name."""
    with Session(engine) as session:
        return {str(i): str(n) for i, n in session.execute(
            select(Clinic.id, Clinic.name).order_by(Clinic.name))}


def read(engine: Engine, clinic_id: str) -> ClinicThresholds | None:
    """A clinic's thresholds (None: no such clinic)."""
    with Session(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            return None
        row = session.get(rows.EngagementSetting, clinic_id)
        stored = _flat_overrides(dict(row.values or {})) if row is not None else {}
        try:
            values = _flat(EngagementSettings.from_overrides(_nested(stored)))
        except (TypeError, ValueError):  # as care/engagement.py settings_for: the defaults
            values = defaults()
        return ClinicThresholds(clinic_id, clinic.name, values, stored,
                                row.updated_by if row is not None else None,
                                row.updated_at if row is not None else None)


def _flat_overrides(stored: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in stored.items():
        if name == "expected_days" and isinstance(value, Mapping):
            out.update({f"expected_days.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def save(engine: Engine, clinic_id: str, overrides: Mapping[str, float], *, by: str,
         now: datetime) -> None:
    """Store a clinic's checked overrides (``check``'s result); KeyError: no such clinic.
    The next daily engagement run (coach/scheduler.py) judges with them."""
    nested = _nested(overrides)
    EngagementSettings.from_overrides(nested)  # the same object the evaluation will build
    with Session(engine) as session:
        if session.get(Clinic, clinic_id) is None:
            raise KeyError(clinic_id)
        rows.set_clinic_settings(session, clinic_id, nested, by=by, now=now)
        session.commit()
