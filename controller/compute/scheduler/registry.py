"""Names to plug-in classes; the configuration enables filters and weighers by these names."""
from __future__ import annotations

from controller.compute.scheduler.config import SchedulerConfig
from controller.compute.scheduler.filters import BaseHostFilter
from controller.compute.scheduler.filters.affinity import (
    ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter)
from controller.compute.scheduler.filters.availability_zone import AvailabilityZoneFilter
from controller.compute.scheduler.filters.compute import ComputeFilter
from controller.compute.scheduler.filters.image_properties import ImagePropertiesFilter
from controller.compute.scheduler.filters.resources import CoreFilter, DiskFilter, RamFilter
from controller.compute.scheduler.weighers import BaseHostWeigher
from controller.compute.scheduler.weighers.affinity import (
    ServerGroupSoftAffinityWeigher, ServerGroupSoftAntiAffinityWeigher)
from controller.compute.scheduler.weighers.resources import CPUWeigher, RAMWeigher

FILTERS: dict[str, type[BaseHostFilter]] = {cls.name: cls for cls in (
    ComputeFilter, AvailabilityZoneFilter, RamFilter, CoreFilter, DiskFilter,
    ImagePropertiesFilter, ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter)}

WEIGHERS: dict[str, type[BaseHostWeigher]] = {cls.name: cls for cls in (
    RAMWeigher, CPUWeigher, ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher)}


def _lookup(kind: str, table: dict, names) -> list:
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown scheduler {kind}(s): {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(table))}")
    if len(set(names)) != len(names):
        raise ValueError(f"scheduler {kind} listed twice: {', '.join(names)}")
    return [table[n] for n in names]


def build_filters(config: SchedulerConfig) -> list[BaseHostFilter]:
    """The enabled filters, in configured order (cheap ones first keeps decisions fast)."""
    return [cls() for cls in _lookup("filter", FILTERS, list(config.enabled_filters))]


def build_weighers(config: SchedulerConfig) -> list[BaseHostWeigher]:
    unknown = sorted(set(config.weight_multipliers) - set(config.weighers))
    if unknown:
        raise ValueError(f"multiplier for a weigher that is not enabled: {', '.join(unknown)}")
    classes = _lookup("weigher", WEIGHERS, list(config.weighers))
    return [cls(config.multiplier(cls.name)) for cls in classes]
