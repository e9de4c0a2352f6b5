"""What a process under systemd says to its manager (sd_notify) and reads from it (credentials).

sd_notify is one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET: `READY=1` once the
process serves, `WATCHDOG=1` at least every $WATCHDOG_USEC, `STOPPING=1` on the way out.
Without the variable (not started by systemd, or `Type=exec`) every call does nothing, so the
processes call it unconditionally. The protocol is a few lines; a library would add a
dependency for no more than this.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"
INSTALLED_CREDENTIALS = Path("/etc/stratus/credentials")


def notify(*lines: str, env: Mapping[str, str] | None = None) -> bool:
    """Sends `lines` (`READY=1`, `STATUS=...`) to the service manager; False when there is none
    or it could not be reached (a manager that went away is not the process's failure)."""
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: a leading NUL byte, not a path
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
    except OSError as exc:
        log.warning("could not notify the service manager: %s", exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between two `WATCHDOG=1`: half the manager's timeout, as sd_watchdog_enabled(3)
    advises. None when no watchdog is asked for this process."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2


async def feed_watchdog(interval: float) -> None:
    """Sends `WATCHDOG=1` every `interval` seconds from the event loop, so a loop that stops
    turning (a blocking call, a deadlock) stops the pings and systemd restarts the process."""
    while True:
        notify(WATCHDOG)
        await asyncio.sleep(interval)


def start_watchdog() -> asyncio.Task | None:
    """The watchdog task on the running loop, when systemd asked for one."""
    interval = watchdog_interval()
    if interval is None:
        return None
    return asyncio.get_running_loop().create_task(feed_watchdog(interval), name="watchdog")


def credential_path(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Where systemd put the credential `name` (`LoadCredential=name:/path`): the process reads
    it from $CREDENTIALS_DIRECTORY, a private, read-only copy only this service can see.
    Without the variable: INSTALLED_CREDENTIALS, the sources (readable by root only)."""
    env = os.environ if env is None else env
    # Outside systemd (an operator's stratus-manage), where the install scripts keep them.
    directory = env.get("CREDENTIALS_DIRECTORY", "") or str(INSTALLED_CREDENTIALS)
    if "/" in name or name in ("", ".", ".."):
        raise LookupError(f"{name!r} is not a credential name")
    path = Path(directory) / name
    if not path.is_file():
        raise LookupError(f"credential {name!r} is not in {directory}")
    return path
