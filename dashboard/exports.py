"""CSV export of a patient's readings (authorised and audited like every read)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from core.interop.csv_export import csv_lines
from core.metrics import Metric
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from dashboard.fhir import period
from dashboard.security import PatientAccess, patient_access

router = APIRouter(prefix="/api/patients", tags=["interop"])


def period_readings(store: TimeSeriesStore, patient_id: str, metrics: list[Metric],
                    start: datetime, end: datetime) -> list[Reading]:
    """Readings of the metrics in [start, end), oldest first across metrics."""
    found = [r for m in metrics for r in store.read(patient_id, m, start, end)]
    found.sort(key=lambda r: (r.measured_at, str(r.metric), r.device_id))
    return found


@router.get("/{patient_id}/export.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export_csv(
    request: Request,
    patient_id: str,
    access: Annotated[PatientAccess, Depends(patient_access("CSV export", scope="export"))],
    start: Annotated[
        datetime | None, Query(description="inclusive; default: end - 30 days")
    ] = None,
    end: Annotated[datetime | None, Query(description="exclusive; default: now")] = None,
    metric: Annotated[
        list[Metric] | None, Query(description="repeat for several; default all")
    ] = None,
) -> StreamingResponse:
    """One row per reading with its original value and unit (docs/INTEROP.md lists the columns)."""
    start_at, end_at = period(start, end)
    store: TimeSeriesStore = request.app.state.store
    readings = period_readings(store, patient_id, metric or list(Metric), start_at, end_at)
    name = f"hearth-{patient_id}-{start_at:%Y%m%d}-{end_at:%Y%m%d}.csv"
    return StreamingResponse(
        csv_lines(readings), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
