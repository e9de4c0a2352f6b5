"""Which controller process holds a node's session: the owner written in the compute_node row.

Several replicas share the database, so a hello may reach one replica while another holds
the node's stream. The owner names the process (host, pid, the pid's start time) and the
conductor within it, so a replica restarted on the same host can tell that its predecessor,
and every stream it held, is gone; an owner on another host is trusted until its session's
heartbeats stop for `service_down_time`.
"""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname()


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None: no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def new_owner() -> str:
    """The owner name of one conductor in this process."""
    return f"{HOST}:{os.getpid()}:{_started(os.getpid())}:{uuid.uuid4().hex[:8]}"


def gone(owner: str) -> bool:
    """Whether the process that `owner` names is known to have ended (on this host only)."""
    host, _, rest = owner.partition(":")
    pid, _, rest = rest.partition(":")
    started = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False
    return _started(int(pid)) != started
