"""Signing in and out: argon2 passwords, server-side sessions, throttled attempts."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dashboard.csrf import set_login_cookie
from dashboard.security import (
    accounts_of,
    cookie_secure,
    now_of,
    public,
    session_of,
    settings_of,
)
from dashboard.templating import templates

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
BAD_LOGIN = "That name and password do not match an account."


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _page(request: Request, *, error: str = "", status: int = 200, name: str = "",
          next_: str = "/") -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "login.html", {"error": error, "name": name, "next": _safe_next(next_)},
        status_code=status,
    )
    set_login_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_page(request: Request, next: str = "/") -> HTMLResponse:  # noqa: A002
    return _page(request, next_=next)


def _throttled(request: Request, name: str, address: str, now: datetime) -> str | None:
    """A clear message if the account or the address has failed too often lately."""
    settings = settings_of(request)
    accounts = accounts_of(request)
    since = now - settings.login_window
    checks = (
        (accounts.failures_since(since, user_id=name), settings.login_max_failures_per_account,
         "this account"),
        (accounts.failures_since(since, address=address),
         settings.login_max_failures_per_address, "this network address"),
    )
    for (count, oldest), limit, what in checks:
        if count >= limit and oldest is not None:
            wait = oldest + settings.login_window - now
            minutes = max(1, math.ceil(wait.total_seconds() / 60))
            return (f"Too many failed sign-in attempts for {what}. For your safety, "
                    f"try again in {minutes} minute{'s' if minutes != 1 else ''}.")
    return None


@router.post("/login", dependencies=[Depends(public)])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    now = now_of(request)
    accounts = accounts_of(request)
    refusal = _throttled(request, name, address, now)
    if refusal:
        log.info("login throttled for an account or address")
        return _page(request, error=refusal, status=429, name=username, next_=next)
    account = accounts.check_password(name, password)
    accounts.record_attempt(name, address, at=now, succeeded=account is not None)
    if account is None:
        return _page(request, error=BAD_LOGIN, status=401, name=username, next_=next)
    old = request.cookies.get(settings_of(request).session_cookie)
    if old:  # a new session id on every sign-in (no session fixation)
        accounts.close_session(old)
    settings = settings_of(request)
    token = accounts.open_session(account.id, now=now, lifetime=settings.absolute)
    log.info("user %s signed in", account.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(settings.session_cookie, token,
                        max_age=int(settings.absolute.total_seconds()), httponly=True,
                        samesite=settings.cookie_samesite, secure=cookie_secure(request),
                        path="/")
    response.delete_cookie("hearth_login_csrf", path="/login")
    return response


@router.post("/logout", dependencies=[Depends(public)])
def logout(request: Request) -> Response:
    """Sign out; after the session expired this just goes to the login form."""
    token = request.cookies.get(settings_of(request).session_cookie)
    session = session_of(request)
    if token and session is not None:
        accounts_of(request).close_session(token)
        log.info("user %s signed out", session.account.id)
    response = RedirectResponse("/login", status_code=303)
    settings = settings_of(request)
    response.delete_cookie(settings.session_cookie, path="/", httponly=True,
                           samesite=settings.cookie_samesite, secure=cookie_secure(request))
    return response


logout.only_with_session = True  # type: ignore[attr-defined] # CSRF: see dashboard/csrf.py
