"""FHIR R4 export: a patient's Bundle for a period (authorised and audited like every read)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from core.timeseries import TimeSeriesStore
from dashboard.api import aware_utc
from dashboard.fhir_export import patient_bundle
from dashboard.security import PatientAccess, patient_access

router = APIRouter(prefix="/api/patients", tags=["interop"])
FHIR_JSON = "application/fhir+json"
MAX_RANGE = timedelta(days=400)
DEFAULT_RANGE = timedelta(days=30)


def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC; default the 30 days up to now; 422 for a bad range."""
    end_at = aware_utc(end, "end") if end else datetime.now(UTC)
    try:
        start_at = aware_utc(start, "start") if start else end_at - DEFAULT_RANGE
    except OverflowError:
        raise HTTPException(422, "end is outside the supported calendar") from None
    if start_at >= end_at:
        raise HTTPException(422, "start must be before end")
    if end_at - start_at > MAX_RANGE:
        raise HTTPException(422, f"a range may span at most {MAX_RANGE.days} days")
    return start_at, end_at


@router.get("/{patient_id}/fhir", response_class=JSONResponse,
            responses={200: {"content": {FHIR_JSON: {}}}})
def fhir_bundle(
    request: Request,
    patient_id: str,
    access: Annotated[PatientAccess, Depends(patient_access("FHIR export", scope="export"))],
    start: Annotated[
        datetime | None, Query(description="inclusive; default: end - 30 days")
    ] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
) -> JSONResponse:
    """A FHIR R4 `collection` Bundle: Patient, Devices, the CGM summary and every reading."""
    start_at, end_at = period(start, end)
    store: TimeSeriesStore = request.app.state.store
    bundle = patient_bundle(store=store, directory=request.app.state.directory,
                            patient_id=patient_id, start=start_at, end=end_at,
                            now=datetime.now(UTC))
    return JSONResponse(bundle, media_type=FHIR_JSON)
