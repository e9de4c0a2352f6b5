"""Response headers every page carries: a strict Content-Security-Policy (scripts, styles and
connections only from the dashboard itself, no inline code, no framing) and its companions.
A page that embeds a server's console widens it by one frame source: the console proxy's
origin, and nothing else."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)


def with_frame_source(origin: str) -> str:
    """The policy, allowing frames from one origin (scheme://host:port) only."""
    return f"{CONTENT_SECURITY_POLICY}; frame-src {origin}"


HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tls: bool):
        self.app = app
        self.headers = dict(HEADERS)
        if tls:
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name == "cache-control" and scope["path"].startswith("/static/"):
                        continue
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
