"""Server group placement rules, shared by the filters (on a snapshot) and the claim (under a
lock), so both judge a host by the same rule."""

from __future__ import annotations

from collections.abc import Mapping

from controller.compute.scheduler.host_state import AFFINITY, ANTI_AFFINITY


def group_violation(
    policy: str, members_per_host: Mapping[str, int], host: str, max_server_per_host: int = 1
) -> str:
    """Why placing one more member on `host` breaks a hard policy; empty when it does not.
    Soft policies never forbid a host."""
    if policy == AFFINITY:
        elsewhere = sorted(h for h, n in members_per_host.items() if n > 0 and h != host)
        if elsewhere:
            return "affinity group's members are on another host"
    elif policy == ANTI_AFFINITY:
        count = members_per_host.get(host, 0)
        if count >= max_server_per_host:
            return f"host holds {count} member(s) of the anti-affinity group"
    return ""
