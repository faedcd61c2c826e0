"""Glucose for display: units, the trend arrow and how fresh a reading is.

Trend arrows follow the rate-of-change bands CGM makers print and clinicians
are taught (Dexcom G6/G7 user guides; Klonoff DC, Kerr D, "A simplified
approach using rate of change arrows to adjust insulin with real-time CGM",
J Diabetes Sci Technol 2017;11:1063-1069):
  >3 mg/dL/min rising quickly (double up), 2-3 rising, 1-2 rising slowly,
  -1..1 steady, and the same bands falling.
The rate is the least-squares slope of the readings of the last 15 minutes
(a CGM reports every 5 minutes, so 3-4 readings), as the receivers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from core.metrics import GLUCOSE_MGDL_PER_MMOLL
from core.readings import Reading

MG_DL = "mg/dL"
MMOL_L = "mmol/L"
UNITS = (MG_DL, MMOL_L)
TREND_WINDOW = timedelta(minutes=15)
# A CGM reports every 5 minutes; after three missed readings the value is not "current".
FRESH_FOR = timedelta(minutes=15)


def convert(mg_dl: float | None, units: str) -> float | None:
    """A glucose value (canonical mg/dL) in the viewer's units, rounded as meters show it."""
    if mg_dl is None or not np.isfinite(mg_dl):
        return None
    if units == MMOL_L:
        return round(mg_dl / GLUCOSE_MGDL_PER_MMOLL, 1)
    return float(round(mg_dl))


def convert_many(mg_dl: np.ndarray, units: str) -> list[float | None]:
    """convert() over an array at once (NaN becomes None)."""
    a = np.asarray(mg_dl, dtype=np.float64)
    a = np.round(a / GLUCOSE_MGDL_PER_MMOLL, 1) if units == MMOL_L else np.round(a)
    out: list[float | None] = a.tolist()
    if not np.isfinite(a).all():
        out = [x if np.isfinite(x) else None for x in out]  # type: ignore[arg-type]
    return out


def fmt(mg_dl: float | None, units: str) -> str:
    value = convert(mg_dl, units)
    if value is None:
        return "–"
    return f"{value:.1f}" if units == MMOL_L else f"{value:.0f}"


@dataclass(frozen=True, slots=True)
class Arrow:
    symbol: str
    label: str  # said by screen readers and shown beside the arrow


ARROWS = (  # (lower bound of the rate in mg/dL/min, arrow), highest first
    (3.0, Arrow("⇈", "rising quickly")),
    (2.0, Arrow("↑", "rising")),
    (1.0, Arrow("↗", "rising slowly")),
    (-1.0, Arrow("→", "steady")),
    (-2.0, Arrow("↘", "falling slowly")),
    (-3.0, Arrow("↓", "falling")),
)
FALLING_QUICKLY = Arrow("⇊", "falling quickly")
NO_TREND = Arrow("", "trend not known")


def rate_mg_dl_per_min(readings: list[Reading]) -> float | None:
    """Slope of the readings within TREND_WINDOW of the newest; None with fewer than 2."""
    if len(readings) < 2:
        return None
    newest = readings[-1].measured_at
    recent = [r for r in readings if newest - r.measured_at <= TREND_WINDOW]
    if len(recent) < 2:
        return None
    minutes = np.array([(r.measured_at - newest).total_seconds() / 60 for r in recent])
    values = np.array([r.value for r in recent])
    slope = np.polyfit(minutes, values, 1)[0]
    return float(slope)


def arrow(rate: float | None) -> Arrow:
    if rate is None:
        return NO_TREND
    for lower, found in ARROWS:
        if rate > lower or (lower == -1.0 and rate >= lower):
            return found
    return FALLING_QUICKLY


def age_text(now: datetime, at: datetime) -> str:
    minutes = int((now - at).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"
