"""Signing in and out: argon2 passwords, server-side sessions, throttled attempts."""

from __future__ import annotations

import asyncio
import logging
import math
from functools import partial
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dashboard import throttle
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


def _seconds_text(seconds: float) -> str:
    if seconds < 90:
        n = max(1, math.ceil(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    n = math.ceil(seconds / 60)
    return f"{n} minute{'s' if n != 1 else ''}"


@router.post("/login", dependencies=[Depends(public)])
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form()] = "/",  # noqa: A002
) -> Response:
    """Sign in, throttled with growing delays by account and by address (no lockout:
    dashboard/throttle.py)."""
    name = username.strip().lower()
    address = request.client.host if request.client else "unknown"
    accounts = accounts_of(request)
    settings = settings_of(request)
    decision = await run_in_threadpool(throttle.decide, accounts.sign_ins, settings, name,
                                       address, now_of(request))
    if decision.refuse_for > 0:
        log.info("login refused for a while: too many failures from one address")
        wait = _seconds_text(decision.refuse_for)
        page = _page(request, status=429, name=username, next_=next, error=(
            f"Too many failed sign-in attempts for {decision.refused_because}. "
            f"For your safety, wait {wait} and try again."))
        page.headers["Retry-After"] = str(max(1, math.ceil(decision.refuse_for)))
        return page
    if decision.hold_for > 0:  # recent failures on this account from anywhere: slow down
        await asyncio.sleep(decision.hold_for)
    account = await run_in_threadpool(accounts.users.check_password, name, password)
    now = now_of(request)
    await run_in_threadpool(partial(accounts.sign_ins.record, name, address, at=now,
                                    succeeded=account is not None))
    if account is None:
        return _page(request, error=BAD_LOGIN, status=401, name=username, next_=next)
    old = request.cookies.get(settings.session_cookie)
    if old:  # a new session id on every sign-in (no session fixation)
        await run_in_threadpool(accounts.sessions.close, old)
    token = await run_in_threadpool(partial(accounts.sessions.open, account.id, now=now,
                                            lifetime=settings.absolute))
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
        accounts_of(request).sessions.close(token)
        log.info("user %s signed out", session.account.id)
    response = RedirectResponse("/login", status_code=303)
    settings = settings_of(request)
    response.delete_cookie(settings.session_cookie, path="/", httponly=True,
                           samesite=settings.cookie_samesite, secure=cookie_secure(request))
    return response


logout.only_with_session = True  # type: ignore[attr-defined] # CSRF: see dashboard/csrf.py
