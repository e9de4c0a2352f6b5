"""A server's noVNC console for its page: a fresh console URL from CreateConsole, embedded only
when it is on the console proxy's origin, which the page's Content-Security-Policy then allows
as its one frame source."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import grpc
from starlette.requests import Request

from dashboard.auth import User
from dashboard.i18n import _
from stratus.compute.v1 import compute_service_pb2 as cpb


@dataclasses.dataclass
class Embed:
    url: str = ""
    origin: str = ""
    error: str = ""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


async def novnc(request: Request, user: User, server: cpb.Server) -> Embed:
    """The console to embed for an ACTIVE server, or why there is none."""
    if server.status != cpb.SERVER_STATUS_ACTIVE:
        return Embed()
    try:
        console = await request.app.state.api.compute.CreateConsole(
            cpb.CreateConsoleRequest(server_id=server.id, type=cpb.CONSOLE_TYPE_NOVNC),
            metadata=user.metadata,
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise
        return Embed(error=error.details() or error.code().name)
    origin = origin_of(console.url)
    allowed = request.app.state.config.console_origin.rstrip("/") or origin
    if not origin or origin != allowed:
        return Embed(error=_("the console is served from an origin this dashboard does not embed."))
    return Embed(url=console.url, origin=origin)
