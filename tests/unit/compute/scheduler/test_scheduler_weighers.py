"""Weighers: normalisation, multipliers, spread versus pack."""

import pytest

from controller.compute.scheduler.host_state import GroupSpec, HostState, RequestSpec
from controller.compute.scheduler.weighers import normalize
from controller.compute.scheduler.weighers.affinity import (
    ServerGroupSoftAffinityWeigher,
    ServerGroupSoftAntiAffinityWeigher,
)
from controller.compute.scheduler.weighers.resources import CPUWeigher, RAMWeigher


def host(name, **kw):
    return HostState(
        host=name, node_id=name, vcpus_total=8, memory_mb_total=16384, disk_gb_total=100, **kw
    )


SPEC = RequestSpec(instance_id="i", project_id="p", vcpus=1, memory_mb=512, disk_gb=1)


def test_normalize():
    assert normalize([]) == []
    assert normalize([5, 5, 5]) == [0.0, 0.0, 0.0]
    assert normalize([0, 5, 10]) == [0.0, 0.5, 1.0]
    assert normalize([5], minval=0, maxval=10) == [0.5]


def test_ram_weigher_spreads_and_negative_multiplier_packs():
    hosts = [host("busy", memory_mb_used=12000), host("idle"), host("half", memory_mb_used=8192)]
    spread = RAMWeigher(1.0).weigh(hosts, SPEC)
    # free: 4384, 16384, 8192 -> (free - 4384) / 12000
    assert spread == pytest.approx([0.0, 1.0, 3808 / 12000])
    pack = RAMWeigher(-2.0).weigh(hosts, SPEC)
    assert pack == pytest.approx([-0.0, -2.0, -2 * 3808 / 12000])


def test_cpu_weigher_counts_overcommitted_free_cores():
    a = host("a", vcpus_used=30)  # 8 * 4.0 = 32 limit -> 2 free
    b = host("b", vcpus_used=0, cpu_allocation_ratio=1.0)  # 8 free
    assert CPUWeigher()._weigh_object(a, SPEC) == 2
    assert CPUWeigher()._weigh_object(b, SPEC) == 8


def test_soft_affinity_weighers_only_for_their_policy():
    a, b = host("a"), host("b")
    g = GroupSpec("g", "soft-affinity", members_per_host={"a": 3})
    spec = RequestSpec(instance_id="i", project_id="p", vcpus=1, memory_mb=1, disk_gb=1, group=g)
    assert ServerGroupSoftAffinityWeigher().weigh([a, b], spec) == [1.0, 0.0]
    assert ServerGroupSoftAntiAffinityWeigher().weigh([a, b], spec) == [0.0, 0.0]
    g.policy = "soft-anti-affinity"
    assert ServerGroupSoftAntiAffinityWeigher().weigh([a, b], spec) == [0.0, 1.0]
    assert ServerGroupSoftAffinityWeigher().weigh([a, b], spec) == [0.0, 0.0]
