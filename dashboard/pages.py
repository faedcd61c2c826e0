"""Server-rendered pages (Jinja2); charts are drawn in the browser by uPlot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from core.metrics import CATALOGUE, Metric
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from dashboard.security import (
    CurrentUser,
    PatientAccess,
    patient_access,
)
from dashboard.templating import templates

router = APIRouter(include_in_schema=False)

CARD_METRICS = (Metric.SYSTOLIC, Metric.WEIGHT, Metric.SPO2)


@router.get("/")
def index(user: CurrentUser) -> RedirectResponse:
    """No page of its own: each role's start page (dashboard/views/common.py home_of)."""
    from dashboard.views.common import home_of

    return RedirectResponse(home_of(user), status_code=303)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, patient_id: str,
    access: Annotated[PatientAccess, Depends(patient_access("patient page"))],
) -> HTMLResponse:
    patient = access.patient
    store: TimeSeriesStore = request.app.state.store
    latest = store.latest(patient_id)
    tz = ZoneInfo(patient.timezone)
    now = datetime.now(UTC)
    cards = []
    glucose = latest.get(Metric.GLUCOSE)
    if glucose:
        cards.append(_card("Glucose", f"{glucose.value:.0f}", "mg/dL", glucose, tz, now))
    bp = latest.get(Metric.SYSTOLIC)
    dia = latest.get(Metric.DIASTOLIC)
    if bp and dia:
        cards.append(_card("Blood pressure", f"{bp.value:.0f}/{dia.value:.0f}", "mmHg", bp, tz,
                           now))
    if weight := latest.get(Metric.WEIGHT):
        cards.append(_card("Weight", f"{weight.value:.1f}", "kg", weight, tz, now))
    if spo2 := latest.get(Metric.SPO2):
        cards.append(_card("Oxygen (SpO2)", f"{spo2.value:.0f}", "%", spo2, tz, now))
    return templates.TemplateResponse(
        request,
        "patient.html",
        {"patient": patient, "cards": cards, "has_glucose": glucose is not None,
         "glucose_unit": CATALOGUE[Metric.GLUCOSE].unit},
    )


def _card(title: str, value: str, unit: str, reading: Reading, tz: ZoneInfo,
          now: datetime) -> dict[str, str]:
    return {
        "title": title,
        "value": value,
        "unit": unit,
        "when": reading.measured_at.astimezone(tz).strftime("%d %b, %H:%M"),
        "age": _age(now - reading.measured_at),
        "metric": str(reading.metric),
    }


def _age(delta: object) -> str:
    minutes = int(delta.total_seconds() // 60)  # type: ignore[attr-defined]
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"
