"""The JSON API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from core.metrics import CATALOGUE, Metric
from core.timeseries import TimeSeriesStore
from dashboard.schemas import PatientOut, ReadingOut, ReadingsOut
from dashboard.security import (
    CurrentUser,
    PatientAccess,
    audit_reads,
    patient_access,
    visible_patients,
)

router = APIRouter(prefix="/api", tags=["readings"])
MAX_RANGE = timedelta(days=400)


def _store(request: Request) -> TimeSeriesStore:
    store: TimeSeriesStore = request.app.state.store
    return store


def aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} must carry a time zone, e.g. 2026-11-23T08:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 lies before the calendar in UTC
        raise HTTPException(422, f"{name} is outside the supported calendar") from None


@router.get("/patients", response_model=list[PatientOut])
def list_patients(request: Request, user: CurrentUser) -> list[PatientOut]:
    """The patients whose data the signed-in user may open."""
    patients = visible_patients(request, user)
    audit_reads(request, user, [p.id for p in patients], "patient list")
    return [
        PatientOut(id=p.id, display_name=p.display_name, timezone=p.timezone,
                   conditions=list(p.conditions))
        for p in patients
    ]


@router.get("/patients/{patient_id}/readings", response_model=ReadingsOut)
def readings(
    request: Request,
    patient_id: str,
    access: Annotated[PatientAccess, Depends(patient_access("readings"))],
    metric: Metric,
    start: Annotated[datetime | None, Query(description="inclusive; default: end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
) -> ReadingsOut:
    """A patient's readings of one metric in [start, end), in the canonical unit."""
    end_at = aware_utc(end, "end") if end else datetime.now(UTC)
    try:
        start_at = aware_utc(start, "start") if start else end_at - timedelta(hours=24)
    except OverflowError:
        raise HTTPException(422, "end is outside the supported calendar") from None
    if start_at >= end_at:
        raise HTTPException(422, "start must be before end")
    if end_at - start_at > MAX_RANGE:
        raise HTTPException(422, f"a range may span at most {MAX_RANGE.days} days")
    unit = CATALOGUE[metric].unit
    found = _store(request).read(patient_id, metric, start_at, end_at)
    return ReadingsOut(
        patient_id=patient_id, metric=str(metric), unit=unit, start=start_at, end=end_at,
        readings=[ReadingOut.of(r, unit) for r in found],
    )


@router.get("/patients/{patient_id}/latest", response_model=dict[str, ReadingOut])
def latest(
    request: Request, patient_id: str,
    access: Annotated[PatientAccess, Depends(patient_access("latest readings"))],
) -> dict[str, ReadingOut]:
    """The newest reading of each metric the patient has."""
    found = _store(request).latest(patient_id)
    return {str(m): ReadingOut.of(r, CATALOGUE[m].unit) for m, r in found.items()}
