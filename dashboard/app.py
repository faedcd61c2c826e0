"""The FastAPI application: JSON API and pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from core.appdb.directory import PatientDirectory
from core.timeseries import TimeSeriesStore
from dashboard import api, exports, fhir, pages
from dashboard import nightscout  # Nightscout-compatible API (its own auth)


def create_app(*, store: TimeSeriesStore, directory: PatientDirectory) -> FastAPI:
    app = FastAPI(
        title="Hearth",
        summary="Home health monitoring: readings, trends and care for patients, coaches and nurses.",
        version="0.1.0",
    )
    app.state.store = store
    app.state.directory = directory
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(fhir.router)
    app.include_router(exports.router)
    app.mount("/api/v1", nightscout.create_app(app.state))  # uploaders: api-secret, no session

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
