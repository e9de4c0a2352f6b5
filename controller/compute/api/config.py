"""[compute]: the compute API's section of the controller's configuration."""

import dataclasses
import typing

from controller.compute.api.quota_rules import DEFAULT_LIMITS, QuotaValues


@dataclasses.dataclass
class ComputeSection:
    """[compute]"""

    section: typing.ClassVar[str] = "compute"
    # A host is down after this many seconds without a heartbeat (Nova's default).
    service_down_time: float = 60.0
    # How often the change feed that WatchServers streams share reads the servers changed
    # (by any replica).
    watch_interval: float = 0.25
    # Placement loops running at once; each places the servers waiting (up to 32) together,
    # with one claim transaction, in a database worker.
    placement_workers: int = 1
    # Default quota limits per project; -1 is unlimited.
    quota_instances: int = DEFAULT_LIMITS.instances
    quota_cores: int = DEFAULT_LIMITS.cores
    quota_ram_mb: int = DEFAULT_LIMITS.ram_mb
    quota_key_pairs: int = DEFAULT_LIMITS.key_pairs
    quota_server_groups: int = DEFAULT_LIMITS.server_groups
    quota_server_group_members: int = DEFAULT_LIMITS.server_group_members

    def quota_defaults(self) -> QuotaValues:
        return QuotaValues(**{n: getattr(self, f"quota_{n}") for n in QuotaValues.names()})
