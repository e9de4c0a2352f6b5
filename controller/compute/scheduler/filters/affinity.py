"""Hard server group policies. The soft ones are weighers (weighers/affinity.py), as in Nova."""
from controller.compute.scheduler.filters import BaseHostFilter
from controller.compute.scheduler.host_state import AFFINITY, ANTI_AFFINITY


class ServerGroupAffinityFilter(BaseHostFilter):
    """Once a member of an affinity group is placed, passes only the hosts holding members."""

    name = "ServerGroupAffinityFilter"

    def applies_to(self, request_spec) -> bool:
        group = request_spec.group
        return group is not None and group.policy == AFFINITY

    def host_passes(self, host_state, request_spec) -> bool:
        group = request_spec.group
        if group is None or group.policy != AFFINITY:
            return True
        placed = [h for h, n in group.members_per_host.items() if n > 0]
        return not placed or host_state.host in placed

    def explain(self, host_state, request_spec) -> str:
        return "affinity group's members are on other hosts"


class ServerGroupAntiAffinityFilter(BaseHostFilter):
    """Refuses a host already holding max_server_per_host members of an anti-affinity group."""

    name = "ServerGroupAntiAffinityFilter"

    def applies_to(self, request_spec) -> bool:
        group = request_spec.group
        return group is not None and group.policy == ANTI_AFFINITY

    def host_passes(self, host_state, request_spec) -> bool:
        group = request_spec.group
        if group is None or group.policy != ANTI_AFFINITY:
            return True
        return group.members_per_host.get(host_state.host, 0) < group.max_server_per_host

    def explain(self, host_state, request_spec) -> str:
        count = request_spec.group.members_per_host.get(host_state.host, 0)
        return f"host holds {count} member(s) of the anti-affinity group"
