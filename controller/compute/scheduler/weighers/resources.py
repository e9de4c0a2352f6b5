"""Free RAM and free cores: with positive multipliers servers spread, with negative they pack."""

from controller.compute.scheduler.weighers import BaseHostWeigher


class RAMWeigher(BaseHostWeigher):
    name = "RAMWeigher"

    def _weigh_object(self, host_state, request_spec) -> float:
        return host_state.free_memory_mb


class CPUWeigher(BaseHostWeigher):
    name = "CPUWeigher"

    def _weigh_object(self, host_state, request_spec) -> float:
        return host_state.free_vcpus
