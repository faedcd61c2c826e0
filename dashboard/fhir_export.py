"""A patient's FHIR R4 Bundle for a period: readings, Patient, Devices and the CGM summary.

Shared by the API (dashboard/fhir.py) and `hearth export fhir`.  It lives in
the dashboard because it calls analytics for the CGM summary (the one
crossing the import rules allow); the FHIR mapping itself is core.interop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from analytics.summary import CgmSummary, cgm_summary
from core.appdb.directory import DeviceBinding, PatientInfo
from core.interop.cgm_summary import CgmSummaryFigures, cgm_summary_entries
from core.interop.fhir import (
    Entry,
    collection_bundle,
    device_entry,
    fhir_instant,
    observation_entries,
    patient_entry,
)
from core.metrics import CATALOGUE, GlucoseMethod, Metric
from core.readings import Reading, to_epoch_us
from core.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

EXPORTED_METRICS = tuple(m for m in Metric if CATALOGUE[m].loinc is not None)


class PatientLookup(Protocol):
    def patient(self, patient_id: str) -> PatientInfo | None: ...


class UnknownPatientError(LookupError):
    pass


def patient_bundle(*, store: TimeSeriesStore, directory: PatientLookup, patient_id: str,
                   start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    """The validated Bundle of [start, end) for one patient."""
    info = directory.patient(patient_id)
    if info is None:
        raise UnknownPatientError(patient_id)
    readings = [r for m in EXPORTED_METRICS for r in store.read(patient_id, m, start, end)]
    patient = patient_entry(info)
    devices = [device_entry(b, patient_url=patient.full_url)
               for b in _devices(directory, patient_id, readings)]
    device_urls = {d.resource["identifier"][0]["value"]: d.full_url for d in devices}
    entries: list[Entry] = [patient, *devices]
    figures = cgm_figures(readings, info=info, start=start, end=end)
    if figures is not None:
        entries += cgm_summary_entries(figures, patient_url=patient.full_url)
    entries += observation_entries(readings, patient_url=patient.full_url, device_urls=device_urls)
    log.info("FHIR bundle built: %d entries from %d readings", len(entries), len(readings))
    key = f"{patient_id}/{fhir_instant(start)}/{fhir_instant(end)}"
    return collection_bundle(entries, timestamp=now, bundle_key=key)


def _devices(directory: PatientLookup, patient_id: str,
             readings: list[Reading]) -> list[DeviceBinding]:
    """The registry's devices of the patient, and any device a reading names that has moved on."""
    devices_of = getattr(directory, "devices_of", None)
    bound: list[DeviceBinding] = list(devices_of(patient_id)) if devices_of else []
    known = {b.device_id for b in bound}
    for device_id in sorted({r.device_id for r in readings} - known):
        bound.append(DeviceBinding(device_id, patient_id, "device", False))
    return bound


def cgm_figures(readings: list[Reading], *, info: PatientInfo, start: datetime,
                end: datetime) -> CgmSummaryFigures | None:
    """The consensus CGM figures of the period (analytics), or None without CGM data."""
    cgm = [r for r in readings if r.metric is Metric.GLUCOSE and r.source == GlucoseMethod.CGM]
    if not cgm:
        return None
    times = np.fromiter((to_epoch_us(r.measured_at) for r in cgm), np.int64, len(cgm))
    values = np.fromiter((r.value for r in cgm), np.float64, len(cgm))
    summary = cgm_summary(times, values, tz=info.timezone, start_us=to_epoch_us(start),
                          end_us=to_epoch_us(end))
    return _figures(summary, info=info, start=start, end=end)


def _figures(summary: CgmSummary, *, info: PatientInfo, start: datetime,
             end: datetime) -> CgmSummaryFigures:
    zone = ZoneInfo(info.timezone)
    m = summary.metrics
    return CgmSummaryFigures(
        first_day=start.astimezone(zone).date(),
        last_day=(end - timedelta(microseconds=1)).astimezone(zone).date(),
        mean_mg_dl=m.mean,
        very_low=m.ranges.very_low,
        low=m.ranges.low,
        in_range=m.ranges.in_range,
        high=m.ranges.high,
        very_high=m.ranges.very_high,
        gmi_percent=m.gmi,
        cv_percent=m.cv if np.isfinite(m.cv) else None,
        days_of_wear=sum(1 for d in summary.days if d.readings > 0),
        percent_active=m.sufficiency.percent_active,
    )
