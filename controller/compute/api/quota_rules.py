"""Quota arithmetic: which limit a request would break. -1 means unlimited (Nova's convention).

Counting usage and serialising concurrent checks is the store's job (quotas.py); this module
only decides, so the rule has one home.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from stratus_common.errors import InvalidArgument, ResourceExhausted

UNLIMITED = -1


@dataclass(frozen=True)
class QuotaValues:
    instances: int = 0
    cores: int = 0
    ram_mb: int = 0
    key_pairs: int = 0
    server_groups: int = 0
    server_group_members: int = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def with_values(self, **values: int) -> QuotaValues:
        return replace(self, **values)


# Nova's defaults ([quota] section).
DEFAULT_LIMITS = QuotaValues(
    instances=10, cores=20, ram_mb=51200, key_pairs=100, server_groups=10, server_group_members=10
)


def check_limit_value(name: str, value: int) -> int:
    if value < UNLIMITED:
        raise InvalidArgument(f"quotas.limits.{name}", "must be -1 (unlimited) or at least 0")
    return value


def check(limits: QuotaValues, usage: QuotaValues, **deltas: int) -> None:
    """Raises ResourceExhausted naming the first quota that usage + deltas would exceed."""
    for name, delta in deltas.items():
        if delta <= 0:
            continue
        limit = getattr(limits, name)
        used = getattr(usage, name)
        if limit != UNLIMITED and used + delta > limit:
            raise ResourceExhausted(
                f"quota exceeded for {name}: {used} used of {limit}, {delta} more requested",
                reason="QUOTA_EXCEEDED",
                quota=name,
                limit=limit,
                used=used,
                requested=delta,
            )
