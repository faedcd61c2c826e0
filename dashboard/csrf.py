"""CSRF protection for every unsafe request (OWASP CSRF Prevention Cheat Sheet).

Signed in: the synchronizer token stored with the server-side session must come
back in the form field ``csrf_token`` or the ``X-CSRF-Token`` header. Not signed in
(only the login form): a signed double-submit cookie, the cookie holding a random
nonce and the form its HMAC under the dashboard's secret.

``verify_csrf`` is an app-wide dependency (create_app), so a new route cannot
forget it; templates call ``csrf_field(request)``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request, Response
from markupsafe import Markup, escape

from dashboard.settings import DashboardSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "hearth_login_csrf"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.dashboard_settings
    return settings


def _sign(request: Request, nonce: str) -> str:
    key = _settings(request).secret_key.encode()
    return hmac.new(key, f"login-csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token a form or script must send back with an unsafe request."""
    from dashboard.security import session_of  # security imports this module

    session = session_of(request)
    if session is not None:
        return session.csrf_token
    nonce = getattr(request.state, "login_csrf_nonce", None) or request.cookies.get(LOGIN_COOKIE)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
    request.state.login_csrf_nonce = nonce
    return _sign(request, nonce)


def csrf_field(request: Request) -> Markup:
    """A hidden input carrying the token, for server-rendered forms."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(csrf_token(request))}">')


def set_login_cookie(request: Request, response: Response, *, path: str = "/login") -> None:
    """Send the double-submit nonce with the login page (after csrf_token was called);
    ``path``: where the forms of the page post (the home display's: /display/)."""
    nonce = getattr(request.state, "login_csrf_nonce", None)
    if nonce and nonce != request.cookies.get(LOGIN_COOKIE):
        from dashboard.security import cookie_secure

        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                            secure=cookie_secure(request), path=path)


async def _sent_token(request: Request) -> str:
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: 403 for an unsafe request without the right token."""
    if request.method in SAFE_METHODS:
        return
    from dashboard.security import session_of

    session = session_of(request)
    if session is None and getattr(request.scope.get("endpoint"), "only_with_session", False):
        return  # e.g. signing out after the session expired: nothing left to forge
    sent = await _sent_token(request)
    if session is not None:
        expected = session.csrf_token
    else:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        expected = _sign(request, nonce) if nonce else ""
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "the form's security token is missing or out of date: "
                                 "reload the page and try again")
