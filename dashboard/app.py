"""The FastAPI application: JSON API and pages, every route behind dashboard/security.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.appdb.account_store import AccountStore
from core.appdb.directory import PatientDirectory
from core.logs import install_secret_scrubbing
from core.timeseries import TimeSeriesStore
from dashboard import (
    api,
    audit,
    exports,
    fhir,
    login,
    nightscout,  # Nightscout-compatible API (its own auth)
    nightscout_v2,
    nightscout_v3,
    pages,
)
from dashboard.headers import SecurityHeaders
from dashboard.limits import BodyLimits
from dashboard.nightscout_socket import NightscoutSocketApp
from dashboard.security import (
    Clock,
    LoginRequired,
    login_redirect,
    public,
    verify_action,
    verify_csrf,
)
from dashboard.settings import DashboardSettings
from dashboard.views.routes import router as views_router

# Public on purpose: the OpenAPI schema and its viewers describe the API and hold no
# personal data; every data route behind them needs a session (docs/SECURITY.md).
PUBLIC_FRAMEWORK_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PUBLIC_MOUNTS = frozenset({"/static"})  # CSS, scripts and the vendored chart library
# Sub-applications that authenticate every request themselves (no session, no CSRF);
# the route-walking test checks that each of their routes refuses a request without it.
SELF_AUTHENTICATED_MOUNTS = {"/api/v1": "Nightscout uploaders: api-secret or token",
                             "/api/v2": "Nightscout v2: tokens, JWTs, properties",
                             "/api/v3": "Nightscout v3 (AndroidAPS): JWT or token",
                             "/pebble": "Nightscout's watch-face feed: api-secret or token"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(*, store: TimeSeriesStore, directory: PatientDirectory, accounts: AccountStore,
               settings: DashboardSettings | None = None, clock: Clock = _utcnow) -> FastAPI:
    # No secret in any log line, however uvicorn was started (each worker builds the app):
    # query strings such as Nightscout's ?token= are scrubbed from every record.
    install_secret_scrubbing()
    app = FastAPI(
        title="Hearth",
        summary="Home health monitoring: readings, trends and care for patients, coaches "
                "and nurses.",
        version="0.1.0",
        # Every route: unsafe methods need the CSRF token (dashboard/csrf.py) and a
        # declared permission to act (dashboard/security.py STATE_CHANGES).
        dependencies=[Depends(verify_csrf), Depends(verify_action)],
    )
    app.state.store = store
    app.state.directory = directory
    app.state.accounts = accounts
    app.state.engine = accounts.engine  # the application database (views/common.py engine_of)
    app.state.dashboard_settings = settings = settings or DashboardSettings()
    app.state.clock = clock
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    # Nightscout's socket.io (AndroidAPS NSClient v1, followers) at /socket.io/, beside the
    # routes; it authenticates every connection itself (dashboard/nightscout_socket.py)
    app.add_middleware(NightscoutSocketApp, parent=app.state)
    # Size and JSON depth of every request body, mounts included (dashboard/limits.py)
    app.add_middleware(BodyLimits, max_body_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth)
    # HSTS whenever not explicitly in development (docs/SECURITY.md); outermost, so that
    # every answer carries the headers, the limits' too
    app.add_middleware(SecurityHeaders, hsts=settings.environment != "development")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.include_router(login.router)
    app.include_router(audit.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(fhir.router)
    app.include_router(exports.router)
    app.include_router(views_router)  # patient, coach and nurse views; live updates
    app.mount("/api/v1", nightscout.create_app(app.state))  # uploaders: api-secret, no session
    app.mount("/api/v2", nightscout_v2.create_v2_app(app.state))  # the same credentials
    app.mount("/api/v3", nightscout_v3.create_v3_app(app.state))  # AndroidAPS NSClient v3
    app.mount("/pebble", nightscout_v2.create_pebble_app(app.state))

    @app.get("/healthz", tags=["health"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _wants_page(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return not request.url.path.startswith("/api") and "text/html" in accept


def _login_required(request: Request, exc: Exception) -> Response:
    """The API answers 401; a page sends the browser to the sign-in form."""
    if not _wants_page(request):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    return RedirectResponse(login_redirect(request), status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    """A browser asking for a page it may not see gets a page that says so (still 403)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 403 and _wants_page(request):
        from dashboard.templating import templates

        return templates.TemplateResponse(request, "forbidden.html", {"reason": exc.detail},
                                          status_code=403)
    if exc.status_code == 422 and isinstance(exc.detail, str) and not _wants_page(request):
        return JSONResponse(validation_body(request, exc.detail), status_code=422,
                            headers=getattr(exc, "headers", None))
    return await http_exception_handler(request, exc)


def validation_body(request: Request, reason: str) -> dict[str, list[dict[str, object]]]:
    """A handler's 422 ("end must carry a time zone, ...") in the shape the OpenAPI schema
    documents for 422 (FastAPI's HTTPValidationError): {"detail": [{loc, msg, type}]}.
    ``loc`` names the parameter when the reason starts with one the request carried."""
    first = reason.split(" ", 1)[0]
    if first in request.path_params:
        loc = ["path", first]
    elif first in request.query_params:
        loc = ["query", first]
    elif request.method in ("POST", "PUT", "PATCH"):
        loc = ["body"]
    else:
        loc = ["query"]
    return {"detail": [{"loc": loc, "msg": reason, "type": "value_error"}]}
