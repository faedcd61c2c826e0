"""What the coach expects of each kind of home device: which metric shows it is alive,
and how long a silence is still normal.

The intervals are Hearth's own choices (no clinical guideline sets them), kept once in
analytics/targets.py ``SILENT_AFTER_H`` for the coach and the nurse's triage alike; each
is the device's usual reporting rhythm plus slack for an ordinary missed day, and each
can be tuned per patient through the ``device_silent`` rule's settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from analytics.targets import SILENT_AFTER_H
from core.metrics import Metric


@dataclass(frozen=True, slots=True)
class DeviceKindSpec:
    kind: str
    metric: Metric | None  # None: the device reports no readings of its own (a gateway)
    silent_after_h: float
    severity: str  # "normal" or "low"
    why: str


_SPECS: tuple[DeviceKindSpec, ...] = (
    DeviceKindSpec("cgm", Metric.GLUCOSE, SILENT_AFTER_H["cgm"], "normal",
                   "reports every 5 minutes; 3 h covers the up-to-2-hour warm-up of a new sensor"),
    DeviceKindSpec("glucose_meter", Metric.GLUCOSE, SILENT_AFTER_H["glucose_meter"], "low",
                   "used at least once a day (fasting check); 48 h allows one missed day"),
    DeviceKindSpec("bp_cuff", Metric.SYSTOLIC, SILENT_AFTER_H["bp_cuff"], "low",
                   "home protocol is a morning and an evening pair (ESH 2021); 48 h allows a "
                   "missed day"),
    DeviceKindSpec("scale", Metric.WEIGHT, SILENT_AFTER_H["scale"], "normal",
                   "daily weigh-in (ESC 2021 heart-failure self-care); 48 h allows a missed day"),
    DeviceKindSpec("pulse_oximeter", Metric.SPO2, SILENT_AFTER_H["pulse_oximeter"], "low",
                   "spot checks through the day and overnight wear; 36 h allows one missed night"),
    DeviceKindSpec("pedometer", Metric.STEPS, SILENT_AFTER_H["pedometer"], "low",
                   "reports hourly while the person is up; 36 h allows one missed day"),
    DeviceKindSpec("thermometer", Metric.BODY_TEMPERATURE, SILENT_AFTER_H["thermometer"], "low",
                   "a daily check at most; 72 h"),
    DeviceKindSpec("motion_sensor", Metric.MOTION, SILENT_AFTER_H["motion_sensor"], "low",
                   "reports on motion only; unusual inactivity is its own rule, so only a "
                   "2-day silence counts as a device problem"),
    DeviceKindSpec("door_sensor", Metric.DOOR, SILENT_AFTER_H["door_sensor"], "low",
                   "people may stay in for days; 4 days"),
    DeviceKindSpec("pill_box", Metric.MEDICATION_TAKEN, SILENT_AFTER_H["pill_box"], "low",
                   "opened at least daily; missed doses are their own rule"),
    DeviceKindSpec("gateway", None, 0.0, "low", "watched through its status topic, not readings"),
)

DEVICE_KINDS: Mapping[str, DeviceKindSpec] = MappingProxyType({s.kind: s for s in _SPECS})
