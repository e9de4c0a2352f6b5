"""The console proxy's listener: the pages (our own around noVNC and spice-html5, the libraries'
files) over plain HTTP GET, and `/websockify?token=...`, the websocket that relays a console.

A websocket is refused (with an HTTP status, before the upgrade, so no console byte is ever
sent) unless its path and Origin pass Nova's checks, its one-time token redeems, and the
server's node opens the console on its stream. Then bytes flow both ways: binary messages
from the client to the guest, the guest's bytes as binary messages to the client, each way
held back by the other's pace (websocket writes wait for the socket to drain; channel writes
wait for the node's credit).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import mimetypes
import ssl
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response

from controller.compute.consoleauth import tokens
from controller.compute.consoleauth.config import ConsoleSection
from controller.console import origin
from controller.db.queries import utcnow
from stratus_common.errors import (
    NotFound,
    ResourceExhausted,
    StratusError,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
NOVNC_DIRS = [Path(__file__).parents[2] / "node_modules/@novnc/novnc", Path("/usr/share/novnc")]
SPICE_DIRS = [Path("/usr/share/spice-html5")]
PAGES = ("/vnc.html", "/spice.html", "/console.js")
MAX_MESSAGE_BYTES = 1024 * 1024
STATUSES = {
    Unauthenticated: 401,
    NotFound: 404,
    ResourceExhausted: 503,
    Unavailable: 503,
}


def _first_dir(configured: str, candidates: list[Path]) -> Path | None:
    if configured:
        return Path(configured)
    return next((d for d in candidates if d.is_dir()), None)


def _binary_if_asked(connection: ServerConnection, offered) -> str | None:
    """The `binary` subprotocol when the client asks for it (noVNC, spice-html5); none when it
    asks for none (the CLI); a client asking only for others (base64) is refused."""
    if "binary" in offered:
        return "binary"
    if offered:
        raise NegotiationError("only the binary subprotocol is served")
    return None


class ConsoleProxy:
    def __init__(self, settings: ConsoleSection, db, conductor):
        self.settings = settings
        self.db = db
        self.conductor = conductor
        self.scheme = "https" if settings.tls_cert_file else "http"
        self.roots = {
            "/novnc/": _first_dir(settings.novnc_dir, NOVNC_DIRS),
            "/spice-html5/": _first_dir(settings.spice_html5_dir, SPICE_DIRS),
        }
        self.active = 0
        self.server = None
        self.port: int | None = None

    async def start(self) -> int:
        host, _, port = self.settings.listen.rpartition(":")
        context = None
        if self.settings.tls_cert_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.settings.tls_cert_file, self.settings.tls_key_file)
        self.server = await serve(
            self._relay,
            host.strip("[]") or None,
            int(port),
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=_binary_if_asked,
            ssl=context,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=4,
            compression=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("console proxy listening on %s://%s", self.scheme, self.settings.listen)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # -- before the upgrade ----------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request):
        try:
            origin.check_path(request.path)
            path = urlsplit(request.path).path
            if path != "/websockify":
                return self._file(path)
            origin.check_origin(
                request.headers.get("Origin"),
                request.headers.get("Host"),
                self.scheme,
                self.settings.allowed_origins,
            )
            if self.active >= self.settings.max_connections:
                raise Unavailable("the console proxy is at its connection limit")
            token = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
            grant = await self.db.run(self._redeem, token)
            consoles, channel = await self.conductor.open_console(
                grant.node_id, grant.instance_id, grant.kind
            )
        except origin.Refused as refusal:
            return self._refuse(connection, refusal.status, str(refusal))
        except StratusError as exc:
            status = next((s for cls, s in STATUSES.items() if isinstance(exc, cls)), 500)
            return self._refuse(connection, status, exc.message)
        self.active += 1
        connection.console = (consoles, channel, grant)  # type: ignore[attr-defined]
        return None

    async def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        """A handshake that failed after its console opened (a bad websocket request) closes
        the console again."""
        opened = getattr(connection, "console", None)
        if opened is not None and response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS:
            consoles, channel, _grant = opened
            self.active -= 1
            await consoles.close(channel, "the websocket handshake failed")

    def _redeem(self, token: str) -> tokens.Grant:
        with self.db.write_transaction():
            return tokens.redeem(token, utcnow())

    def _refuse(self, connection: ServerConnection, status: int, message: str) -> Response:
        log.info("console connection refused: %s %s", status, message)
        return connection.respond(http.HTTPStatus(status), message + "\n")

    def _file(self, path: str) -> Response:
        if path in PAGES:
            target = STATIC / path.lstrip("/")
        else:
            prefix = next((p for p in self.roots if path.startswith(p)), None)
            root = self.roots.get(prefix) if prefix else None
            if root is None:
                raise origin.Refused(404, "not found")
            target = (root / path[len(prefix) :]).resolve()
            if not target.is_relative_to(root.resolve()):
                raise origin.Refused(404, "not found")
        if not target.is_file():
            raise origin.Refused(404, "not found")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            kind = "text/javascript"  # module scripts need it, whatever the host's mime.types
        body = target.read_bytes()
        headers = Headers(
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store" if target.parent == STATIC else "max-age=3600"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        return Response(200, "OK", headers, body)

    # -- after the upgrade -----------------------------------------------------------------

    async def _relay(self, connection: ServerConnection) -> None:
        consoles, channel, grant = connection.console  # type: ignore[attr-defined]
        log.info(
            "console %s of server %s open (%s)",
            grant.console_type,
            grant.instance_id,
            channel.channel_id,
        )
        pumps = [
            asyncio.ensure_future(self._to_guest(connection, channel)),
            asyncio.ensure_future(self._to_client(connection, channel)),
            asyncio.ensure_future(self._idle_watch(channel)),
        ]
        reason = "the client closed"
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finished = done.pop()
            if not finished.cancelled() and finished.exception() is None:
                reason = finished.result() or reason
        finally:
            for pump in pumps:
                pump.cancel()
            self.active -= 1
            await consoles.close(channel, reason)
            await connection.close(1000, reason[:120])
            log.info(
                "console %s of server %s closed: %s (%d bytes in, %d out)",
                grant.console_type,
                grant.instance_id,
                reason,
                channel.bytes_in,
                channel.bytes_out,
            )

    async def _to_guest(self, connection: ServerConnection, channel) -> str:
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                await channel.write(message if isinstance(message, bytes) else message.encode())
        return "the client closed"

    async def _to_client(self, connection: ServerConnection, channel) -> str:
        while data := await channel.read():
            try:
                await connection.send(data)
            except ConnectionClosed:
                return "the client closed"
            await channel.delivered(len(data))
        return channel.closed_reason or "the console closed"

    async def _idle_watch(self, channel) -> str:
        idle = self.settings.idle_timeout
        while True:
            left = channel.last_activity + idle - time.monotonic()
            if left <= 0:
                return "idle timeout"
            await asyncio.sleep(min(left, 30))
