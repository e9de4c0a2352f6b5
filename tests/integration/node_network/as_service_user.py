"""Applies a NetworkState with the agent's own wiring (the production Runner: no `ip netns
exec`), as systemd starts stratus-compute.service: an unprivileged user whose only
capabilities are the unit's, ambient, so that ip, nft, bridge and dnsmasq inherit them, with
no_new_privs. Run as root inside the network namespace to wire:

    ip netns exec NS python -m tests.integration.node_network.as_service_user UID GID CAPS...

stdin: a pickled (state_dir, LinkSettings, NetworkState); stdout: the pickled StatusReport.
The drop is done here, after the imports, rather than by setpriv before Python starts: the
interpreter may live where that user cannot read it (/root), the wiring never does.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import sys
from pathlib import Path

from compute_node.network.runner import Runner
from compute_node.network.wiring import NetworkWiring, WiringSettings

CAPABILITIES = {"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13}
PR_SET_KEEPCAPS, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 8, 24, 38, 47
PR_CAP_AMBIENT_RAISE = 2
CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def become(uid: int, gid: int, capabilities: list[str]) -> None:
    """What systemd does for User=, Group=, CapabilityBoundingSet=, AmbientCapabilities= and
    NoNewPrivileges=yes."""
    keep = [CAPABILITIES[c] for c in capabilities]
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        if cap not in keep:
            _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop {cap} from bounding set")
    _check(libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keepcaps")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    mask = sum(1 << cap for cap in keep)
    data = (CapData * 2)(CapData(mask, mask, mask), CapData(0, 0, 0))
    _check(libc.capset(ctypes.byref(CapHeader(CAPABILITY_VERSION_3, 0)), data), "capset")
    for cap in keep:
        _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), f"ambient {cap}")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def main() -> None:
    uid, gid, *capabilities = sys.argv[1:]
    state_dir, links, state = pickle.load(sys.stdin.buffer)
    become(int(uid), int(gid), capabilities)
    wiring = NetworkWiring(WiringSettings(links, state_dir), Runner())
    report = wiring.apply(state)
    pickle.dump(report, sys.stdout.buffer)


if __name__ == "__main__":
    main()
