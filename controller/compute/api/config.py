"""[compute] and [scheduler] sections of the controller's configuration."""
import dataclasses
import typing

from controller.compute.api.quota_rules import DEFAULT_LIMITS, QuotaValues
from controller.compute.scheduler.config import DEFAULT_FILTERS, DEFAULT_WEIGHERS, SchedulerConfig


@dataclasses.dataclass
class ComputeSection:
    """[compute]"""

    section: typing.ClassVar[str] = "compute"
    # A host is down after this many seconds without a heartbeat (Nova's default).
    service_down_time: float = 60.0
    # How often a WatchServers stream looks for changes made by other replicas.
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


@dataclasses.dataclass
class SchedulerSection:
    """[scheduler] (Nova's [filter_scheduler] options)."""

    section: typing.ClassVar[str] = "scheduler"
    enabled_filters: list = dataclasses.field(default_factory=lambda: list(DEFAULT_FILTERS))
    weighers: list = dataclasses.field(default_factory=lambda: list(DEFAULT_WEIGHERS))
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    max_attempts: int = 3
    host_subset_size: int = 1
    shuffle_best_same_weighed_hosts: bool = True
    # Seconds a host snapshot serves decisions before it is reloaded from the database.
    snapshot_max_age: float = 5.0

    def scheduler_config(self) -> SchedulerConfig:
        multipliers = {"RAMWeigher": self.ram_weight_multiplier,
                       "CPUWeigher": self.cpu_weight_multiplier,
                       "ServerGroupSoftAffinityWeigher": self.soft_affinity_weight_multiplier,
                       "ServerGroupSoftAntiAffinityWeigher":
                           self.soft_anti_affinity_weight_multiplier}
        return SchedulerConfig.from_mapping({
            "enabled_filters": self.enabled_filters, "weighers": self.weighers,
            "weight_multipliers": {k: v for k, v in multipliers.items() if k in self.weighers},
            "cpu_allocation_ratio": self.cpu_allocation_ratio,
            "ram_allocation_ratio": self.ram_allocation_ratio,
            "disk_allocation_ratio": self.disk_allocation_ratio,
            "max_attempts": self.max_attempts, "host_subset_size": self.host_subset_size,
            "shuffle_best_same_weighed_hosts": self.shuffle_best_same_weighed_hosts})
