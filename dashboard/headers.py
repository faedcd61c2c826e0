"""Security headers on every response (OWASP Secure Headers Project).

A plain ASGI middleware (not BaseHTTPMiddleware), so streamed responses such as the
live updates pass through untouched apart from their headers.

Content-Security-Policy: the pages load everything from this site (scripts and styles
as files under /static, never inline; JSON data blocks are ``type="application/json"``,
which no browser runs), so the policy allows 'self' and nothing else, no inline script
or style, no framing, no plugins, forms posting only here. The framework's API viewers
(/docs, /redoc: FastAPI's Swagger UI and ReDoc pages, no personal data) are the one
exception: they load their scripts from FastAPI's default CDN and start them inline.

Strict-Transport-Security outside development (a browser that saw it once over https
never talks plain http to this host again; over http browsers ignore it).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Frame-Options": "DENY",  # no clickjacking of the sign-in form or the buttons
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # patient ids in paths stay on this site
    "Cross-Origin-Opener-Policy": "same-origin",
}
CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # uPlot draws on canvas; data: for exported chart images
    "font-src 'self'",
    "connect-src 'self'",  # live updates (server-sent events) and fetch of fragments
    "manifest-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))
# FastAPI's /docs (Swagger UI) and /redoc: scripts and styles from its default CDN,
# started by an inline script; pages without personal data or forms of ours.
API_VIEWER_CDN = "https://cdn.jsdelivr.net"
API_VIEWER_CSP = "; ".join((
    "default-src 'none'",
    f"script-src 'self' 'unsafe-inline' {API_VIEWER_CDN}",
    f"style-src 'self' 'unsafe-inline' {API_VIEWER_CDN} https://fonts.googleapis.com",
    "font-src 'self' https://fonts.gstatic.com",
    "img-src 'self' data: https://fastapi.tiangolo.com",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))
API_VIEWERS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
# RFC 6797; one year is what the HSTS preload list asks for.
HSTS = "max-age=31536000; includeSubDomains"


def csp_for(path: str) -> str:
    return API_VIEWER_CSP if path in API_VIEWERS else CSP


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = csp_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", policy)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
