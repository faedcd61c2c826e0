"""The nurse view: population triage, patient review (AGP report, notes, reviewed by/at)."""

from __future__ import annotations

import math
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics.report import write_agp_report
from analytics.summary import cgm_summary
from core.appdb.directory import PatientInfo
from core.readings import to_epoch_us
from dashboard.security import (
    PatientAccess,
    User,
    audit_reads,
    now_of,
    patient_access,
    require_role,
    visible_patient_ids,
)
from dashboard.views import figures, units
from dashboard.views.alerts import CLINICAL_KINDS, SNOOZE_CHOICES
from dashboard.views.coach import alert_queue
from dashboard.views.common import engine_of, prefs_of, render, script_json, store_of
from dashboard.views.models import (
    ReviewCharts,
    ReviewOut,
    TriageFinding,
    TriagePage,
    TriageRow,
)
from dashboard.views.records import Review, add_review, last_reviews, reviews_of
from dashboard.views.shared_boards import SharedBoards
from dashboard.views.triage import (
    BUCKET_LABELS,
    BUCKETS,
    COLUMN_LABELS,
    COLUMNS,
    LEVEL_LABELS,
    RISK_LABELS,
    RISKS,
    Board,
    Row,
    TriageBoards,
    finite,
)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["nurse view"])

Nurse = Annotated[User, Depends(require_role("nurse"))]
ReviewAccess = Annotated[PatientAccess, Depends(patient_access("clinical review", scope="trends"))]
ReportAccess = Annotated[PatientAccess, Depends(patient_access("AGP report", scope="export"))]
PER_PAGE = 50
_BOARDS_LOCK = threading.Lock()


def boards_of(request: Request) -> TriageBoards:
    with _BOARDS_LOCK:
        boards: TriageBoards | None = getattr(request.app.state, "triage_boards", None)
        if boards is None:
            state = request.app.state
            # one build per period for all of the server's processes (shared_boards.py)
            boards = TriageBoards(store_of(request), clock=lambda: state.clock(),
                                  shared=SharedBoards(engine_of(request)))
            request.app.state.triage_boards = boards
        return boards


def _row(r: Row, reviews: dict[str, Review], weight_units: str = "kg") -> TriageRow:
    """One board row for one viewer: the shared board's weights (kg) in her units."""
    f = r.figures
    review = reviews.get(r.patient.id)
    return TriageRow(
        patient_id=r.patient.id, display_name=r.patient.display_name, level=r.level,
        level_label=LEVEL_LABELS[r.level],
        findings=[TriageFinding(code=x.code, level=x.level,
                                reason=units.in_text(x.reason, weight_units))
                  for x in r.findings],
        glucose_source=r.glucose, bucket=r.bucket, flags=list(r.flags), risks=list(r.risks),
        columns={k: units.in_text(v, weight_units) for k, v in r.columns.items()},
        risk_score=round(r.score, 1),
        time_in_range=finite(f.time_in_range) if f else None,
        below_70=finite(f.below_70) if f else None, below_54=finite(f.below_54) if f else None,
        above_180=finite(f.above_180) if f else None,
        above_250=finite(f.above_250) if f else None,
        wear_percent=finite(f.wear_percent) if f else None,
        tir_change=finite(f.tir_change) if f else None, gri=finite(f.gri) if f else None,
        reviewed_at=review.reviewed_at if review else None,
        reviewed_by=review.reviewer if review else None)


def triage_page(request: Request, user: User, *, bucket: str | None, risk: str | None,
                q: str | None, page: int, per_page: int, level: int | None = None) -> TriagePage:
    bucket, risk = _choice(bucket, BUCKETS, "bucket"), _choice(risk, RISKS, "risk")
    directory = request.app.state.directory

    def load(ids: frozenset[str]) -> list[PatientInfo]:
        return [p for p in directory.patients() if p.id in ids]

    board: Board = boards_of(request).board(visible_patient_ids(request, user), load)
    chosen = board.select(bucket=bucket, risk=risk, query=q, level=level)
    pages_total = max(1, math.ceil(len(chosen) / per_page))
    page = min(page, pages_total)
    shown = chosen[(page - 1) * per_page: page * per_page]
    audit_reads(request, user, [r.patient.id for r in shown], "triage")
    reviews = last_reviews(engine_of(request))
    weight_units = prefs_of(request, user).weight_units  # kg or lb, her settings
    return TriagePage(as_of=board.as_of, total=len(chosen), page=page, per_page=per_page,
                      counts=board.counts(),
                      rows=[_row(r, reviews, weight_units) for r in shown])


Bucket = Annotated[str | None, Query(description=f"only this glucose bucket: {', '.join(BUCKETS)}")]
Level = Annotated[int | None, Query(ge=0, le=3, description="only this level: 3 urgent, 2 high, "
                                                           "1 watch, 0 none")]
Risk = Annotated[str | None, Query(description=f"only patients with this risk: {', '.join(RISKS)}")]


def _choice(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    """An empty form field means "any"; anything else must be one of ``allowed``."""
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(422, f"{name} must be one of {', '.join(allowed)}")
    return value
Search = Annotated[str | None, Query(max_length=100, description="name or id contains")]
Page = Annotated[int, Query(ge=1)]
PerPage = Annotated[int, Query(ge=1, le=200)]


@api.get("/nurse/triage", response_model=TriagePage)
def triage_api(request: Request, user: Nurse, bucket: Bucket = None, risk: Risk = None,
               q: Search = None, page: Page = 1, per_page: PerPage = PER_PAGE,
               level: Level = None) -> TriagePage:
    """The clinic's patients ranked by their most urgent finding across every condition
    they have (glucose by CGM or meter, BP, heart-failure weight, SpO2, activity, adherence,
    devices), each finding in words; paginated."""
    return triage_page(request, user, bucket=bucket, risk=risk, q=q, page=page,
                       per_page=per_page, level=level)


@pages.get("/nurse", response_class=HTMLResponse)
def triage_view(request: Request, user: Nurse, bucket: Bucket = None, risk: Risk = None,
                q: Search = None, page: Page = 1,
                level: Annotated[str | None, Query(description="3, 2, 1, 0 or empty")] = None,
                ) -> HTMLResponse:
    chosen = _choice(level, tuple(str(n) for n in LEVEL_LABELS), "level")
    result = triage_page(request, user, bucket=bucket, risk=risk, q=q, page=page,
                         per_page=PER_PAGE, level=None if chosen is None else int(chosen))
    from dashboard.views.outreach import outreach_bucket

    return render(request, user, "views/nurse_triage.html", {
        "outreach": outreach_bucket(request, user),
        "result": result, "bucket": bucket or None, "risk": risk or None, "q": q or "",
        "level": chosen, "buckets": BUCKETS, "bucket_labels": BUCKET_LABELS, "risks": RISKS,
        "risk_labels": RISK_LABELS, "levels": LEVEL_LABELS, "columns": COLUMNS,
        "column_labels": COLUMN_LABELS})


@pages.get("/nurse/patients/{patient_id}", response_class=HTMLResponse,
           dependencies=[Depends(require_role("nurse"))])
def review_view(request: Request, access: ReviewAccess) -> HTMLResponse:
    reviews = reviews_of(engine_of(request), access.patient.id)
    charts = _charts(request, access)
    return render(request, access.user, "views/nurse_review.html", {
        "patient": access.patient, "reviews": reviews, "charts": charts,
        "diabetes": any("diabetes" in c for c in access.patient.conditions),
        "charts_json": script_json(charts.model_dump_json()),
        "alerts": alert_queue(request, access.user, patient_id=access.patient.id,
                              kinds=CLINICAL_KINDS),
        "snooze_choices": SNOOZE_CHOICES, "back": f"/nurse/patients/{access.patient.id}",
        "tz": prefs_of(request, access.user).zone_for(access.patient.timezone)})


def _charts(request: Request, access: PatientAccess) -> ReviewCharts:
    prefs = prefs_of(request, access.user)
    return figures.review_charts(store_of(request), access.patient, now=now_of(request),
                                 units=prefs.glucose_units,
                                 tz=prefs.zone_for(access.patient.timezone),
                                 weight_units=prefs.weight_units)


@api.get("/nurse/patients/{patient_id}/charts", response_model=ReviewCharts,
         dependencies=[Depends(require_role("nurse"))])
def review_charts_api(request: Request, access: ReviewAccess) -> ReviewCharts:
    """What the review page charts: the AGP where there are CGM readings (never from
    finger-sticks, which are points), BP, weight, SpO2 and steps with their target lines."""
    return _charts(request, access)


@pages.post("/nurse/patients/{patient_id}/reviews", dependencies=[Depends(require_role("nurse"))])
def review_post(request: Request, access: ReviewAccess,
                note: Annotated[str, Form(max_length=4000)] = "") -> RedirectResponse:
    _review(request, access, note)
    return RedirectResponse(f"/nurse/patients/{access.patient.id}?reviewed=1", status_code=303)


@api.post("/patients/{patient_id}/reviews", response_model=ReviewOut,
          dependencies=[Depends(require_role("nurse"))], tags=["nurse view"])
def review_api(request: Request, access: ReviewAccess,
               note: Annotated[str, Form(max_length=4000)] = "") -> ReviewOut:
    """Mark the patient reviewed now by the signed-in nurse, with an optional note."""
    r = _review(request, access, note)
    return ReviewOut(reviewer=r.reviewer, reviewed_at=r.reviewed_at, note=r.note)


def _review(request: Request, access: PatientAccess, note: str) -> Review:
    return add_review(engine_of(request), patient_id=access.patient.id,
                      reviewer_id=access.user.id, reviewer_name=access.user.display_name,
                      note=note, now=now_of(request))


@api.get("/patients/{patient_id}/agp-report", response_class=Response,
         responses={200: {"content": {"application/pdf": {}, "image/png": {}}}})
def agp_report(request: Request, access: ReportAccess,
               days: Annotated[int, Query(ge=1, le=90)] = 14,
               format: Annotated[Literal["pdf", "png"], Query()] = "pdf") -> Response:  # noqa: A002
    """The one-page AGP report (analytics.report) of the last ``days`` days of CGM readings
    (an AGP is never built from a finger-stick meter's readings)."""
    end = now_of(request)
    start = end - timedelta(days=days)
    times, values = figures.cgm_arrays(store_of(request), access.patient.id, start, end)
    if values.size == 0:
        raise HTTPException(404, "no CGM readings in this period: an AGP report is built from "
                                 "CGM data only")
    prefs = prefs_of(request, access.user)
    summary = cgm_summary(times, values, tz=access.patient.timezone, start_us=to_epoch_us(start),
                          end_us=to_epoch_us(end),
                          older_or_high_risk=bool(access.patient.targets.get("older_adult")))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_agp_report(summary, Path(tmp) / f"agp.{format}",
                                patient=access.patient.display_name, fmt=format,
                                units=prefs.glucose_units)
        body = path.read_bytes()
    name = f"agp-{access.patient.id}-{end:%Y%m%d}.{format}"
    return Response(body, media_type="application/pdf" if format == "pdf" else "image/png",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
