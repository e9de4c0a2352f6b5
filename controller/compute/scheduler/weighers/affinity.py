"""Soft server group policies: preferences, never refusals."""

from controller.compute.scheduler.host_state import SOFT_AFFINITY, SOFT_ANTI_AFFINITY
from controller.compute.scheduler.weighers import BaseHostWeigher


def _members_on(host_state, request_spec, policy: str) -> int:
    group = request_spec.group
    if group is None or group.policy != policy:
        return 0
    return group.members_per_host.get(host_state.node_id, 0)


class ServerGroupSoftAffinityWeigher(BaseHostWeigher):
    """Prefers hosts holding more members of a soft-affinity group."""

    name = "ServerGroupSoftAffinityWeigher"

    def applies_to(self, request_spec) -> bool:
        return request_spec.group is not None and request_spec.group.policy == SOFT_AFFINITY

    def _weigh_object(self, host_state, request_spec) -> float:
        return _members_on(host_state, request_spec, SOFT_AFFINITY)


class ServerGroupSoftAntiAffinityWeigher(BaseHostWeigher):
    """Prefers hosts holding fewer members of a soft-anti-affinity group."""

    name = "ServerGroupSoftAntiAffinityWeigher"

    def applies_to(self, request_spec) -> bool:
        return request_spec.group is not None and request_spec.group.policy == SOFT_ANTI_AFFINITY

    def _weigh_object(self, host_state, request_spec) -> float:
        return -_members_on(host_state, request_spec, SOFT_ANTI_AFFINITY)
