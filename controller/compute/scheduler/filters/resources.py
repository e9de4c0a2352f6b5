"""RAM, cores and disk, each against the host's limit after its allocation ratio."""

from controller.compute.scheduler import capacity
from controller.compute.scheduler.filters import BaseHostFilter


class RamFilter(BaseHostFilter):
    name = "RamFilter"

    def host_passes(self, host_state, request_spec) -> bool:
        return host_state.free_memory_mb >= request_spec.memory_mb

    def explain(self, host_state, request_spec) -> str:
        return capacity.memory_shortfall(host_state, request_spec.memory_mb)


class CoreFilter(BaseHostFilter):
    name = "CoreFilter"

    def host_passes(self, host_state, request_spec) -> bool:
        return (
            host_state.free_vcpus >= request_spec.vcpus
            and host_state.vcpus_total >= request_spec.vcpus
        )

    def explain(self, host_state, request_spec) -> str:
        return capacity.vcpu_shortfall(host_state, request_spec.vcpus)


class DiskFilter(BaseHostFilter):
    name = "DiskFilter"

    def host_passes(self, host_state, request_spec) -> bool:
        return host_state.free_disk_gb >= request_spec.disk_gb

    def explain(self, host_state, request_spec) -> str:
        return capacity.disk_shortfall(host_state, request_spec.disk_gb)
