from controller.compute.scheduler.filters import BaseHostFilter


class AvailabilityZoneFilter(BaseHostFilter):
    """Passes hosts in the requested availability zone; any host when none is requested."""

    name = "AvailabilityZoneFilter"

    def applies_to(self, request_spec) -> bool:
        return bool(request_spec.availability_zone)

    def host_passes(self, host_state, request_spec) -> bool:
        wanted = request_spec.availability_zone
        return not wanted or host_state.availability_zone == wanted

    def explain(self, host_state, request_spec) -> str:
        return (
            f"in zone {host_state.availability_zone!r}, "
            f"request wants {request_spec.availability_zone!r}"
        )
