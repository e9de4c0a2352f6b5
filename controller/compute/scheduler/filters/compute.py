from controller.compute.scheduler.filters import BaseHostFilter


class ComputeFilter(BaseHostFilter):
    """Passes hosts whose compute service is enabled and up (recent heartbeat)."""

    name = "ComputeFilter"

    def host_passes(self, host_state, request_spec) -> bool:
        return host_state.enabled and host_state.up

    def explain(self, host_state, request_spec) -> str:
        return "compute service disabled" if not host_state.enabled else "compute service down"
