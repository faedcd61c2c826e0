"""The phone's, pump's and loop's state on Today (issue 17): what an uploader's Nightscout
device status said last (dashboard/nightscout_treatments.py keeps it as one
``device_battery`` reading with the state as flags), as Nightscout's "upbat", "pump" and
"loop" pills show it: batteries, reservoir, insulin and carbs on board, and a loop's
failure in words. Shown while it is at most ``SHOWN_FOR`` old (a presentation choice, not
a clinical number: an older status says nothing about now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.i18n import N_
from core.metrics import Metric
from core.timeseries import TimeSeriesStore
from dashboard.nightscout_treatments import device_state
from dashboard.views import glucose as g

SHOWN_FOR = timedelta(hours=1)

# (dotted path in the status, label, unit), in the order shown
_SHOWN = (
    ("pump.battery.percent", N_("Pump battery"), "%"),
    ("pump.reservoir", N_("Insulin left in the pump"), "U"),
    ("loop.iob.iob", N_("Insulin on board"), "U"),
    ("openaps.iob.iob", N_("Insulin on board"), "U"),
    ("loop.cob.cob", N_("Carbs on board"), "g"),
    ("openaps.suggested.COB", N_("Carbs on board"), "g"),
)
N_("Phone battery")
N_("Pump stopped (suspended)")


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    battery_label: str  # "Phone battery" or "Pump battery"
    battery: str
    items: tuple[tuple[str, str], ...]  # (label, value with unit)
    suspended: bool
    problem: str | None  # the loop's failure reason, as the app said it
    at: datetime
    age: str


def latest(store: TimeSeriesStore, patient_id: str, now: datetime) -> DeviceStatus | None:
    """The newest device status of the patient, if it is recent enough to show."""
    reading = store.latest(patient_id, [Metric.DEVICE_BATTERY]).get(Metric.DEVICE_BATTERY)
    if reading is None or now - reading.measured_at > SHOWN_FOR:
        return None
    state = device_state(reading)
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path, label, unit in _SHOWN:
        value = state.get(path)
        if isinstance(value, bool) or not isinstance(value, int | float) or label in seen:
            continue
        if path == "pump.battery.percent" and reading.context == "pump":
            continue  # it is the battery shown first
        seen.add(label)
        items.append((label, f"{value:g} {unit}"))
    problem = state.get("loop.failureReason")
    return DeviceStatus(
        battery_label="Pump battery" if reading.context == "pump" else "Phone battery",
        battery=f"{reading.value:.0f}%", items=tuple(items),
        suspended=state.get("pump.suspended") is True,
        problem=str(problem) if problem else None, at=reading.measured_at,
        age=g.age_text(now, reading.measured_at))
