"""Console commands: `console url show` (a one-time URL, as `openstack console url show`) and
`console connect` (the serial console on this terminal, as `virsh console`; Ctrl-] leaves)."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import tty

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from cli import resources
from cli.commands.compute import call, find_server
from cli.errors import CliError
from cli.registry import arg, command, group
from stratus.compute.v1 import compute_service_pb2 as pb

group("console url", "one-time URLs to a server's console")
ESCAPE = b"\x1d"  # Ctrl-]
TYPES = {
    "novnc": pb.CONSOLE_TYPE_NOVNC,
    "spice": pb.CONSOLE_TYPE_SPICE_HTML5,
    "serial": pb.CONSOLE_TYPE_SERIAL,
}


def create_console(ctx, server_name: str, console_type) -> tuple[object, object]:
    server = find_server(ctx, server_name)
    console = call(
        ctx, "CreateConsole", pb.CreateConsoleRequest(server_id=server.id, type=console_type)
    )
    return server, console


def show_console(console):
    return resources.show(console, drop=("server_id",))


@command(
    "console url show",
    help="show a one-time URL to a server's console",
    output="show",
    columns=resources.fields_of(show_console, pb.Console),
)
@arg("server", help="server name or ID")
@arg("--novnc", dest="kind", action="store_const", const="novnc", help="noVNC (default)")
@arg("--spice", dest="kind", action="store_const", const="spice", help="spice-html5")
@arg("--serial", dest="kind", action="store_const", const="serial", help="serial (websocket)")
def console_url_show(ctx, args):
    _server, console = create_console(ctx, args.server, TYPES[args.kind or "novnc"])
    return show_console(console)


@command(
    "console connect", help="attach this terminal to a server's serial console (Ctrl-] leaves)"
)
@arg("server", help="server name or ID")
def console_connect(ctx, args):
    server, console = create_console(ctx, args.server, pb.CONSOLE_TYPE_SERIAL)
    try:
        websocket = connect(console.url, open_timeout=60, max_size=1 << 20)
    except InvalidStatus as exc:
        raise CliError(
            f"the console proxy refused the connection: "
            f"{exc.response.status_code} {exc.response.body.decode(errors='replace').strip()}"
        ) from None
    except OSError as exc:
        raise CliError(f"cannot reach the console proxy: {exc}") from None
    with websocket, _raw(sys.stdin):
        # Said once the terminal is raw: keys typed from then on all go to the guest.
        ctx.stderr.write(f"Connected to server {server.name} (escape character is ^])\r\n")
        ctx.stderr.flush()
        reason = _relay(websocket, sys.stdin.fileno(), sys.stdout.fileno())
    ctx.stderr.write(f"\nDisconnected from server {server.name}: {reason}\n")


@contextlib.contextmanager
def _raw(stream):
    """The terminal in raw mode (keys go to the guest as typed; none typed ahead is dropped),
    restored after."""
    if not stream.isatty():
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _relay(websocket, stdin: int, stdout: int) -> str:
    """Keys to the guest, its output to the terminal, until Ctrl-] or the console closes."""
    closed = threading.Event()
    outcome = ["the console closed"]

    def output():
        try:
            for message in websocket:
                data = message if isinstance(message, bytes) else message.encode()
                os.write(stdout, data)
        except ConnectionClosed:
            pass
        finally:
            if websocket.close_reason:
                outcome[0] = websocket.close_reason
            closed.set()

    reader = threading.Thread(target=output, daemon=True)
    reader.start()
    while not closed.is_set():
        ready, _, _ = select.select([stdin], [], [], 0.2)
        if not ready:
            continue
        keys = os.read(stdin, 4096)
        if not keys:
            return "end of input"
        before, escape, _ = keys.partition(ESCAPE)
        with contextlib.suppress(ConnectionClosed):
            if before:
                websocket.send(before)
        if escape:
            return "left with Ctrl-]"
    return outcome[0]
