"""Free RAM and free cores: with positive multipliers servers spread, with negative they pack."""
from controller.compute.scheduler import capacity
from controller.compute.scheduler.weighers import BaseHostWeigher


class RAMWeigher(BaseHostWeigher):
    name = "RAMWeigher"

    def _weigh_object(self, host_state, request_spec) -> float:
        return capacity.free_memory_mb(host_state)


class CPUWeigher(BaseHostWeigher):
    name = "CPUWeigher"

    def _weigh_object(self, host_state, request_spec) -> float:
        return capacity.free_vcpus(host_state)
