"""Hard server group policies. The soft ones are weighers (weighers/affinity.py), as in Nova."""

from controller.compute.scheduler.filters import BaseHostFilter
from controller.compute.scheduler.groups import group_violation
from controller.compute.scheduler.host_state import AFFINITY, ANTI_AFFINITY


class _GroupPolicyFilter(BaseHostFilter):
    policy = ""

    def applies_to(self, request_spec) -> bool:
        group = request_spec.group
        return group is not None and group.policy == self.policy

    def host_passes(self, host_state, request_spec) -> bool:
        return not self.explain(host_state, request_spec)

    def explain(self, host_state, request_spec) -> str:
        group = request_spec.group
        if group is None or group.policy != self.policy:
            return ""
        return group_violation(
            group.policy, group.members_per_host, host_state.node_id, group.max_server_per_host
        )


class ServerGroupAffinityFilter(_GroupPolicyFilter):
    """Once a member of an affinity group is placed, passes only the host holding members."""

    name = "ServerGroupAffinityFilter"
    policy = AFFINITY


class ServerGroupAntiAffinityFilter(_GroupPolicyFilter):
    """Refuses a host already holding max_server_per_host members of an anti-affinity group."""

    name = "ServerGroupAntiAffinityFilter"
    policy = ANTI_AFFINITY
