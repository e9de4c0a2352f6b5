"""Scheduler settings: the [scheduler] section of the controller's configuration (names and
defaults follow Nova's [filter_scheduler] options) and the SchedulerConfig it yields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

DEFAULT_FILTERS = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)
DEFAULT_WEIGHERS = (
    "RAMWeigher",
    "CPUWeigher",
    "ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher",
)


@dataclass(frozen=True)
class SchedulerConfig:
    enabled_filters: tuple[str, ...] = DEFAULT_FILTERS
    weighers: tuple[str, ...] = DEFAULT_WEIGHERS
    # weigher name -> multiplier; absent means 1.0; negative packs instead of spreading
    weight_multipliers: Mapping[str, float] = field(default_factory=dict)
    # defaults for hosts whose record sets no ratio of its own
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # hosts tried for one server: the first choice plus alternates
    max_attempts: int = 3
    # the first choice is drawn at random among this many best hosts (Nova's option)
    host_subset_size: int = 1
    # equal weights are ordered at random, so concurrent requests and replicas deciding on
    # the same snapshot do not all race for the same host
    shuffle_best_same_weighed_hosts: bool = True

    def multiplier(self, weigher_name: str) -> float:
        return float(self.weight_multipliers.get(weigher_name, 1.0))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SchedulerConfig:
        """Builds from a configuration section; unknown keys and bad values raise ValueError."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown scheduler option(s): {', '.join(unknown)}")
        for key in ("enabled_filters", "weighers"):
            if key in values:
                values[key] = tuple(values[key])
        if "weight_multipliers" in values:
            values["weight_multipliers"] = {
                str(k): float(v) for k, v in dict(values["weight_multipliers"]).items()
            }
        for key in ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio"):
            if key in values:
                values[key] = float(values[key])
                if values[key] <= 0:
                    raise ValueError(f"{key} must be positive")
        for key in ("max_attempts", "host_subset_size"):
            if key in values:
                values[key] = int(values[key])
                if values[key] < 1:
                    raise ValueError(f"{key} must be at least 1")
        return cls(**values)


_DEFAULTS = SchedulerConfig()


@dataclass
class SchedulerSection:
    """[scheduler] (Nova's [filter_scheduler] options)."""

    section: ClassVar[str] = "scheduler"
    enabled_filters: list = field(default_factory=lambda: list(DEFAULT_FILTERS))
    weighers: list = field(default_factory=lambda: list(DEFAULT_WEIGHERS))
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0
    cpu_allocation_ratio: float = _DEFAULTS.cpu_allocation_ratio
    ram_allocation_ratio: float = _DEFAULTS.ram_allocation_ratio
    disk_allocation_ratio: float = _DEFAULTS.disk_allocation_ratio
    max_attempts: int = _DEFAULTS.max_attempts
    host_subset_size: int = _DEFAULTS.host_subset_size
    shuffle_best_same_weighed_hosts: bool = _DEFAULTS.shuffle_best_same_weighed_hosts
    # Seconds a host snapshot serves decisions before it is reloaded from the database.
    snapshot_max_age: float = 5.0

    def scheduler_config(self) -> SchedulerConfig:
        multipliers = {
            "RAMWeigher": self.ram_weight_multiplier,
            "CPUWeigher": self.cpu_weight_multiplier,
            "ServerGroupSoftAffinityWeigher": self.soft_affinity_weight_multiplier,
            "ServerGroupSoftAntiAffinityWeigher": self.soft_anti_affinity_weight_multiplier,
        }
        return SchedulerConfig.from_mapping(
            {
                "enabled_filters": self.enabled_filters,
                "weighers": self.weighers,
                "weight_multipliers": {k: v for k, v in multipliers.items() if k in self.weighers},
                "cpu_allocation_ratio": self.cpu_allocation_ratio,
                "ram_allocation_ratio": self.ram_allocation_ratio,
                "disk_allocation_ratio": self.disk_allocation_ratio,
                "max_attempts": self.max_attempts,
                "host_subset_size": self.host_subset_size,
                "shuffle_best_same_weighed_hosts": self.shuffle_best_same_weighed_hosts,
            }
        )
