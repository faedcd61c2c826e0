"""Security headers on every response (OWASP Secure Headers Project).

A plain ASGI middleware (not BaseHTTPMiddleware), so streamed responses such as the
live updates pass through untouched apart from their headers.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Frame-Options": "DENY",  # no clickjacking of the sign-in form or the buttons
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # patient ids in paths stay on this site
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
