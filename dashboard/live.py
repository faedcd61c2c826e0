"""Live updates: new readings and alerts reach open pages as server-sent events.

How the news is found: the dashboard POLLS THE STORES (the time-series
store's ``latest`` and the alert table) every ``interval`` seconds for each
open page, and sends only what changed.  It does not subscribe to MQTT: the
dashboard then needs no broker connection or credentials, works the same on
the embedded and production stores, and cannot miss a message while it
reconnects (the stores are the truth).  The price is up to ``interval``
seconds of delay (5 s by default; docs/DASHBOARD.md).

Each check is one indexed ``latest`` query per open patient page, run in the
thread pool so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from core.metrics import Metric
from core.readings import Reading
from core.timeseries import TimeSeriesStore
from dashboard.security import (
    CurrentUser,
    PatientAccess,
    now_of,
    patient_access,
    require_role,
    visible_patient_ids,
)
from dashboard.views import glucose as g

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
HEARTBEAT_S = 15.0
LIVE_METRICS = (Metric.GLUCOSE, Metric.SYSTOLIC, Metric.DIASTOLIC, Metric.WEIGHT, Metric.SPO2)


def sse(event: str, data: Any, *, event_id: str | None = None) -> str:
    """One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n"


@dataclass
class PatientFeed:
    """What changed in one patient's readings since the last poll."""

    store: TimeSeriesStore
    patient_id: str
    units: str
    seen: dict[Metric, datetime] = field(default_factory=dict)

    def poll(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        latest = self.store.latest(self.patient_id, LIVE_METRICS)
        events: list[tuple[str, dict[str, Any]]] = []
        for metric, reading in sorted(latest.items()):
            if self.seen.get(metric) == reading.measured_at:
                continue
            first = metric not in self.seen
            self.seen[metric] = reading.measured_at
            if not first:
                events.append(("reading", self._reading(metric, reading, now)))
        if events and Metric.GLUCOSE in {Metric(e[1]["metric"]) for e in events}:
            events.append(("glucose", self._glucose(latest[Metric.GLUCOSE], now)))
        return events

    def _reading(self, metric: Metric, r: Reading, now: datetime) -> dict[str, Any]:
        shown = g.fmt(r.value, self.units) if metric is Metric.GLUCOSE else f"{r.value:g}"
        return {"metric": str(metric), "value": r.value, "shown": shown,
                "time": r.measured_at.isoformat(), "age": g.age_text(now, r.measured_at)}

    def _glucose(self, r: Reading, now: datetime) -> dict[str, Any]:
        recent = self.store.read(self.patient_id, Metric.GLUCOSE, r.measured_at - g.TREND_WINDOW,
                                 r.measured_at + timedelta(seconds=1))
        rate = g.rate_mg_dl_per_min(recent)
        arrow = g.arrow(rate)
        return {"value": g.fmt(r.value, self.units), "mg_dl": r.value, "units": self.units,
                "arrow": arrow.symbol, "arrow_label": arrow.label,
                "time": r.measured_at.isoformat(), "age": g.age_text(now, r.measured_at),
                "fresh": now - r.measured_at <= g.FRESH_FOR, "now": now.isoformat()}


Poll = Callable[[datetime], list[tuple[str, dict[str, Any]]]]


async def stream(poll: Poll, *, interval: float, is_disconnected: Callable[[], Any],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_seconds: float | None = None) -> AsyncIterator[str]:
    """Poll, send what changed, and a comment line as a heartbeat; stop when the client goes.
    After the first poll a ``ready`` event says that from now on every change is sent (the
    page marks itself live; the browser tests wait for it instead of sleeping)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    quiet_since = began
    yield "retry: 3000\n\n"
    counter = 0
    ready = False
    while True:
        try:
            events = await run_in_threadpool(poll, clock())
        except Exception:  # a store hiccup: log once per occurrence, keep the stream open
            log.exception("live poll failed")
            events = []
        for name, data in events:
            counter += 1
            yield sse(name, data, event_id=str(counter))
            quiet_since = loop.time()
        if not ready:
            ready = True
            yield sse("ready", {"every_s": interval})
        if loop.time() - quiet_since >= HEARTBEAT_S:
            yield ": keep-alive\n\n"
            quiet_since = loop.time()
        if max_seconds is not None and loop.time() - began >= max_seconds:
            return
        await asyncio.sleep(interval)
        if await is_disconnected():
            return


# -- routes -----------------------------------------------------------------------------

router = APIRouter(tags=["live"])
LiveAccess = Annotated[PatientAccess, Depends(patient_access("live readings", scope="readings"))]
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def interval_of(request: Request) -> float:
    return float(getattr(request.app.state, "live_interval", DEFAULT_INTERVAL_S))


@router.get("/live/patients/{patient_id}", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "events `reading` and `glucose` (JSON data)"}})
async def patient_stream(request: Request, access: LiveAccess) -> StreamingResponse:
    """Server-sent events: each new reading of the patient, and the new current glucose."""
    from dashboard.views.common import prefs_of

    prefs = await run_in_threadpool(prefs_of, request, access.user)
    feed = PatientFeed(request.app.state.store, access.patient.id, prefs.glucose_units)
    await run_in_threadpool(feed.poll, now_of(request))  # what the page already shows
    body = stream(feed.poll, interval=interval_of(request), is_disconnected=request.is_disconnected,
                  clock=lambda: now_of(request))
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@dataclass
class AlertFeed:
    """Tells the page when the alert queue of its patients changed (it then re-reads it)."""

    version: Callable[[], tuple[object, ...]]
    last: tuple[object, ...] | None = None
    event: str = "alerts"

    def poll(self, now: datetime) -> list[tuple[str, dict[str, Any]]]:
        current = self.version()
        changed = self.last is not None and current != self.last
        self.last = current
        return [(self.event, {"open": len(current)})] if changed else []


@router.get("/live/alerts", response_class=StreamingResponse,
            dependencies=[Depends(require_role("coach", "nurse"))],
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "event `alerts` whenever the queue changes"}})
async def alerts_stream(request: Request, user: CurrentUser) -> StreamingResponse:
    """Server-sent events for the coach's and nurse's alert queue."""
    from dashboard.views import alerts
    from dashboard.views.common import engine_of

    ids = await run_in_threadpool(lambda: sorted(visible_patient_ids(request, user)))
    engine = engine_of(request)
    feed = AlertFeed(lambda: alerts.version(engine, ids))
    await run_in_threadpool(feed.poll, now_of(request))
    body = stream(feed.poll, interval=interval_of(request), is_disconnected=request.is_disconnected,
                  clock=lambda: now_of(request))
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)


@router.get("/live/safety", response_class=StreamingResponse,
            dependencies=[Depends(require_role("patient", "caregiver"))],
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "event `safety` whenever the open safety alerts "
                                            "of the viewer's people change"}})
async def safety_stream(request: Request, user: CurrentUser) -> StreamingResponse:
    """Server-sent events for the patient's and her caregiver's pages: the page re-reads
    the open safety alerts (/alerts/safety) when told (dashboard/views/safety.py)."""
    from dashboard.views import safety
    from dashboard.views.common import engine_of

    ids = await run_in_threadpool(lambda: sorted(safety.safety_patients(request, user)))
    engine = engine_of(request)
    feed = AlertFeed(lambda: safety.version(engine, ids), event="safety")
    await run_in_threadpool(feed.poll, now_of(request))
    body = stream(feed.poll, interval=interval_of(request), is_disconnected=request.is_disconnected,
                  clock=lambda: now_of(request))
    return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)
