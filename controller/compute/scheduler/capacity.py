"""Capacity arithmetic shared by the resource filters and the claim's re-check.

One place computes what a host can still take, so the optimistic decision (filters, on a
snapshot) and the authoritative one (the claim, under a lock) can never disagree on rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Capacity:
    """Totals, ratios and usage of one host, as the claim reads them from the database."""

    vcpus_total: int
    memory_mb_total: int
    disk_gb_total: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    memory_mb_reserved: int = 0
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0

    @classmethod
    def of(cls, host) -> Capacity:
        """Reads the same fields from anything shaped like a HostState."""
        return cls(
            host.vcpus_total,
            host.memory_mb_total,
            host.disk_gb_total,
            host.cpu_allocation_ratio,
            host.ram_allocation_ratio,
            host.disk_allocation_ratio,
            host.memory_mb_reserved,
            host.vcpus_used,
            host.memory_mb_used,
            host.disk_gb_used,
        )


def vcpu_limit(c) -> int:
    return math.floor(c.vcpus_total * c.cpu_allocation_ratio)


def memory_limit_mb(c) -> int:
    return math.floor((c.memory_mb_total - c.memory_mb_reserved) * c.ram_allocation_ratio)


def disk_limit_gb(c) -> int:
    return math.floor(c.disk_gb_total * c.disk_allocation_ratio)


def free_vcpus(c) -> int:
    return vcpu_limit(c) - c.vcpus_used


def free_memory_mb(c) -> int:
    return memory_limit_mb(c) - c.memory_mb_used


def free_disk_gb(c) -> int:
    return disk_limit_gb(c) - c.disk_gb_used


def vcpu_shortfall(c, vcpus: int) -> str:
    """Empty when the host can take `vcpus` more; otherwise why not."""
    if vcpus > c.vcpus_total:
        # Overcommit shares physical cores between servers; one server never gets more
        # vCPUs than the host has cores (Nova's CoreFilter rule).
        return f"needs {vcpus} vCPUs, host has {c.vcpus_total} physical"
    if free_vcpus(c) < vcpus:
        return f"needs {vcpus} vCPUs, {free_vcpus(c)} free of {vcpu_limit(c)}"
    return ""


def memory_shortfall(c, memory_mb: int) -> str:
    if free_memory_mb(c) < memory_mb:
        return f"needs {memory_mb} MB RAM, {free_memory_mb(c)} free of {memory_limit_mb(c)}"
    return ""


def disk_shortfall(c, disk_gb: int) -> str:
    if free_disk_gb(c) < disk_gb:
        return f"needs {disk_gb} GB disk, {free_disk_gb(c)} free of {disk_limit_gb(c)}"
    return ""


def shortfalls(c, vcpus: int, memory_mb: int, disk_gb: int) -> list[str]:
    """Every resource the host lacks for a request; empty means it fits."""
    found = (vcpu_shortfall(c, vcpus), memory_shortfall(c, memory_mb), disk_shortfall(c, disk_gb))
    return [s for s in found if s]
