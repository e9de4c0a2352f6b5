"""Names to plug-in classes; the configuration enables filters and weighers by these names.

The built-in ones are listed here; an operator's own filter or weigher is a class in a package
of its own, registered under the `stratus.scheduler.filters` or `stratus.scheduler.weighers`
entry-point group (as store backends register under `stratus.store_backends`)."""

from __future__ import annotations

from controller.compute.scheduler.config import SchedulerConfig
from controller.compute.scheduler.filters import BaseHostFilter
from controller.compute.scheduler.weighers import BaseHostWeigher
from stratus_common import plugins

FILTER_GROUP = "stratus.scheduler.filters"
WEIGHER_GROUP = "stratus.scheduler.weighers"

_FILTERS = "controller.compute.scheduler.filters"
BUILTIN_FILTERS = {
    "ComputeFilter": f"{_FILTERS}.compute:ComputeFilter",
    "AvailabilityZoneFilter": f"{_FILTERS}.availability_zone:AvailabilityZoneFilter",
    "RamFilter": f"{_FILTERS}.resources:RamFilter",
    "CoreFilter": f"{_FILTERS}.resources:CoreFilter",
    "DiskFilter": f"{_FILTERS}.resources:DiskFilter",
    "ImagePropertiesFilter": f"{_FILTERS}.image_properties:ImagePropertiesFilter",
    "ServerGroupAffinityFilter": f"{_FILTERS}.affinity:ServerGroupAffinityFilter",
    "ServerGroupAntiAffinityFilter": f"{_FILTERS}.affinity:ServerGroupAntiAffinityFilter",
}
_WEIGHERS = "controller.compute.scheduler.weighers"
BUILTIN_WEIGHERS = {
    "RAMWeigher": f"{_WEIGHERS}.resources:RAMWeigher",
    "CPUWeigher": f"{_WEIGHERS}.resources:CPUWeigher",
    "ServerGroupSoftAffinityWeigher": f"{_WEIGHERS}.affinity:ServerGroupSoftAffinityWeigher",
    "ServerGroupSoftAntiAffinityWeigher": (
        f"{_WEIGHERS}.affinity:ServerGroupSoftAntiAffinityWeigher"
    ),
}


def _load(kind: str, group: str, builtin: dict[str, str], base: type, names: list[str]) -> list:
    if len(set(names)) != len(names):
        raise ValueError(f"scheduler {kind} listed twice: {', '.join(names)}")
    classes = [plugins.load(group, builtin, name, f"scheduler {kind}") for name in names]
    for name, cls in zip(names, classes, strict=True):
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ValueError(f"scheduler {kind} {name!r} is not a {base.__name__}")
    return classes


def build_filters(config: SchedulerConfig) -> list[BaseHostFilter]:
    """The enabled filters, in configured order (cheap ones first keeps decisions fast)."""
    return [
        cls()
        for cls in _load(
            "filter", FILTER_GROUP, BUILTIN_FILTERS, BaseHostFilter, list(config.enabled_filters)
        )
    ]


def build_weighers(config: SchedulerConfig) -> list[BaseHostWeigher]:
    unknown = sorted(set(config.weight_multipliers) - set(config.weighers))
    if unknown:
        raise ValueError(f"multiplier for a weigher that is not enabled: {', '.join(unknown)}")
    classes = _load(
        "weigher", WEIGHER_GROUP, BUILTIN_WEIGHERS, BaseHostWeigher, list(config.weighers)
    )
    return [
        cls(config.multiplier(name)) for name, cls in zip(config.weighers, classes, strict=True)
    ]
