"""Nova's checks on a console websocket's request, before any byte of a console flows: no
path starting with `//`, and a browser's Origin names this proxy's own host (or one of
`allowed_origins`) with the scheme this proxy serves."""

from __future__ import annotations

from urllib.parse import urlsplit


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_path(path: str) -> None:
    if path.startswith("//"):
        raise Refused(400, "a path starting with // is refused")


def check_origin(
    origin: str | None, host_header: str | None, scheme: str, allowed: list[str]
) -> None:
    """`scheme` is http or https: what this proxy serves. A request without an Origin (not a
    browser's: the CLI's) passes, as in Nova."""
    if origin is None:
        return
    parts = urlsplit(origin)
    expected = urlsplit(f"//{host_header or ''}").hostname
    if not parts.hostname or (parts.hostname != expected and parts.hostname not in allowed):
        raise Refused(403, f"origin {origin} is not allowed")
    if parts.scheme != scheme:
        raise Refused(403, f"origin scheme {parts.scheme} does not match this proxy's {scheme}")
