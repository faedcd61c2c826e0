"""The FastAPI application: JSON API and pages, every route behind dashboard/security.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientDirectory
from core.timeseries import TimeSeriesStore
from dashboard import api, audit, exports, fhir, login, pages
from dashboard import nightscout  # Nightscout-compatible API (its own auth)
from dashboard.security import Clock, LoginRequired, login_redirect, public, verify_csrf
from dashboard.settings import DashboardSettings

# Public on purpose: the OpenAPI schema and its viewers describe the API and hold no
# personal data; every data route behind them needs a session (docs/SECURITY.md).
PUBLIC_FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PUBLIC_MOUNTS = frozenset({"/static"})  # CSS, scripts and the vendored chart library
# Sub-applications that authenticate every request themselves (no session, no CSRF);
# the route-walking test checks that each of their routes refuses a request without it.
SELF_AUTHENTICATED_MOUNTS = {"/api/v1": "Nightscout uploaders: api-secret or token"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(*, store: TimeSeriesStore, directory: PatientDirectory, accounts: AccountStore,
               settings: DashboardSettings | None = None, clock: Clock = _utcnow) -> FastAPI:
    app = FastAPI(
        title="Hearth",
        summary="Home health monitoring: readings, trends and care for patients, coaches and nurses.",
        version="0.1.0",
        # Every route: unsafe methods need the CSRF token (dashboard/csrf.py).
        dependencies=[Depends(verify_csrf)],
    )
    app.state.store = store
    app.state.directory = directory
    app.state.accounts = accounts
    app.state.dashboard_settings = settings or DashboardSettings()
    app.state.clock = clock
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.include_router(login.router)
    app.include_router(audit.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(fhir.router)
    app.include_router(exports.router)
    app.mount("/api/v1", nightscout.create_app(app.state))  # uploaders: api-secret, no session

    @app.get("/healthz", tags=["health"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _login_required(request: Request, exc: Exception) -> Response:
    """The API answers 401; a page sends the browser to the sign-in form."""
    wants_html = "text/html" in request.headers.get("accept", "")
    if request.url.path.startswith("/api") or not wants_html:
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    return RedirectResponse(login_redirect(request), status_code=303)
