"""Scheduler settings; names and defaults follow Nova's [filter_scheduler] options."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_FILTERS = (
    "ComputeFilter", "AvailabilityZoneFilter", "RamFilter", "CoreFilter", "DiskFilter",
    "ImagePropertiesFilter", "ServerGroupAntiAffinityFilter", "ServerGroupAffinityFilter",
)
DEFAULT_WEIGHERS = (
    "RAMWeigher", "CPUWeigher", "ServerGroupSoftAffinityWeigher",
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
                str(k): float(v) for k, v in dict(values["weight_multipliers"]).items()}
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
