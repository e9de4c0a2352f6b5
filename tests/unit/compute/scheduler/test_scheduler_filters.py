"""Each filter on its own: the host it must refuse, the host it must keep."""

import random

import pytest

from controller.compute.scheduler import capacity
from controller.compute.scheduler.capacity import Capacity
from controller.compute.scheduler.filters.affinity import (
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from controller.compute.scheduler.filters.availability_zone import AvailabilityZoneFilter
from controller.compute.scheduler.filters.compute import ComputeFilter
from controller.compute.scheduler.filters.image_properties import ImagePropertiesFilter
from controller.compute.scheduler.filters.resources import CoreFilter, DiskFilter, RamFilter
from controller.compute.scheduler.host_state import GroupSpec, HostState, ImageProps, RequestSpec


def host(name="h1", **kw):
    base = dict(
        vcpus_total=4,
        memory_mb_total=8192,
        disk_gb_total=100,
        supported_instances=(("x86_64", "qemu"),),
    )
    base.update(kw)
    return HostState(host=name, node_id=name, **base)


def spec(vcpus=1, memory_mb=512, disk_gb=1, **kw):
    return RequestSpec(
        instance_id="i", project_id="p", vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb, **kw
    )


@pytest.mark.parametrize(
    "enabled,up,passes",
    [(True, True, True), (False, True, False), (True, False, False), (False, False, False)],
)
def test_compute_filter_needs_enabled_and_up(enabled, up, passes):
    h = host(enabled=enabled, up=up)
    assert ComputeFilter().host_passes(h, spec()) is passes
    if not passes:
        assert ComputeFilter().explain(h, spec()) in (
            "compute service disabled",
            "compute service down",
        )


def test_ram_filter_uses_ratio_and_reserved():
    f = RamFilter()
    h = host(memory_mb_total=4096, memory_mb_reserved=512, memory_mb_used=3000)
    assert f.host_passes(h, spec(memory_mb=584))
    assert not f.host_passes(h, spec(memory_mb=585))
    assert "585 MB" in f.explain(h, spec(memory_mb=585))
    h = host(
        memory_mb_total=4096, memory_mb_reserved=512, memory_mb_used=3000, ram_allocation_ratio=1.5
    )  # (4096 - 512) * 1.5 = 5376 usable
    assert f.host_passes(h, spec(memory_mb=2376))
    assert not f.host_passes(h, spec(memory_mb=2377))


def test_core_filter_overcommits_by_ratio_but_not_past_physical_per_server():
    f = CoreFilter()
    h = host(vcpus_total=4, cpu_allocation_ratio=4.0, vcpus_used=14)
    assert f.host_passes(h, spec(vcpus=2))
    assert not f.host_passes(h, spec(vcpus=3))
    # a single server never gets more vCPUs than the host has cores, even when free
    assert not f.host_passes(host(vcpus_total=4), spec(vcpus=5))
    assert "physical" in f.explain(host(vcpus_total=4), spec(vcpus=5))


def test_core_filter_per_host_ratio_override():
    h = host(vcpus_total=4, cpu_allocation_ratio=1.0, vcpus_used=3)
    assert CoreFilter().host_passes(h, spec(vcpus=1))
    assert not CoreFilter().host_passes(h, spec(vcpus=2))


def test_disk_filter():
    h = host(disk_gb_total=100, disk_gb_used=90)
    assert DiskFilter().host_passes(h, spec(disk_gb=10))
    assert not DiskFilter().host_passes(h, spec(disk_gb=11))
    h = host(disk_gb_total=100, disk_gb_used=90, disk_allocation_ratio=2.0)
    assert DiskFilter().host_passes(h, spec(disk_gb=110))


def test_request_disk_counts_root_ephemeral_and_swap():
    s = RequestSpec.for_flavor(
        instance_id="i",
        project_id="p",
        vcpus=1,
        ram_mb=64,
        root_gb=10,
        ephemeral_gb=5,
        swap_mb=1025,
    )
    assert s.disk_gb == 17


def test_availability_zone_filter():
    f = AvailabilityZoneFilter()
    assert f.host_passes(host(availability_zone="az1"), spec())
    assert f.host_passes(host(availability_zone="az1"), spec(availability_zone="az1"))
    assert not f.host_passes(host(availability_zone="az2"), spec(availability_zone="az1"))


@pytest.mark.parametrize(
    "image,passes",
    [
        (ImageProps(), True),
        (ImageProps(architecture="x86_64"), True),
        (ImageProps(architecture="amd64"), True),  # alias of x86_64
        (ImageProps(architecture="aarch64"), False),
        (ImageProps(hypervisor_type="QEMU"), True),
        (ImageProps(hypervisor_type="xen"), False),
        (ImageProps(architecture="x86_64", hypervisor_type="xen"), False),
        (ImageProps(min_ram_mb=8192), True),
        (ImageProps(min_ram_mb=8193), False),
        (ImageProps(min_disk_gb=100), True),
        (ImageProps(min_disk_gb=101), False),
    ],
)
def test_image_properties_filter(image, passes):
    f = ImagePropertiesFilter()
    assert f.host_passes(host(), spec(image=image)) is passes
    assert bool(f.explain(host(), spec(image=image))) is not passes


def test_image_requirements_refuse_a_host_declaring_nothing():
    h = host(supported_instances=())
    f = ImagePropertiesFilter()
    assert f.host_passes(h, spec())
    assert not f.host_passes(h, spec(image=ImageProps(architecture="x86_64")))


def test_affinity_filter_follows_placed_members():
    f = ServerGroupAffinityFilter()
    empty = GroupSpec("g", "affinity")
    assert f.host_passes(host("a"), spec(group=empty))
    placed = GroupSpec("g", "affinity", members_per_host={"a": 2})
    assert f.host_passes(host("a"), spec(group=placed))
    assert not f.host_passes(host("b"), spec(group=placed))
    # other policies are not this filter's business
    assert f.host_passes(host("b"), spec(group=GroupSpec("g", "anti-affinity", {"a": 1})))


def test_anti_affinity_filter_with_max_server_per_host():
    f = ServerGroupAntiAffinityFilter()
    g = GroupSpec("g", "anti-affinity", members_per_host={"a": 1})
    assert not f.host_passes(host("a"), spec(group=g))
    assert f.host_passes(host("b"), spec(group=g))
    assert "1 member" in f.explain(host("a"), spec(group=g))
    g2 = GroupSpec("g", "anti-affinity", members_per_host={"a": 1}, max_server_per_host=2)
    assert f.host_passes(host("a"), spec(group=g2))
    # soft anti-affinity never refuses
    assert f.host_passes(host("a"), spec(group=GroupSpec("g", "soft-anti-affinity", {"a": 5})))


def test_resource_filters_agree_with_the_claims_capacity_rules():
    """The filters read precomputed free amounts; the claim re-checks with capacity.shortfalls.
    On any host and request both must say the same."""
    rng = random.Random(7)
    filters = {"vcpu": CoreFilter(), "memory": RamFilter(), "disk": DiskFilter()}
    for _ in range(2000):
        h = host(
            vcpus_total=rng.randint(1, 16),
            vcpus_used=rng.randint(0, 70),
            memory_mb_total=rng.randint(512, 8192),
            memory_mb_used=rng.randint(0, 9000),
            memory_mb_reserved=rng.choice([0, 256]),
            disk_gb_total=rng.randint(1, 100),
            disk_gb_used=rng.randint(0, 120),
            cpu_allocation_ratio=rng.choice([1, 1.5, 4]),
            ram_allocation_ratio=rng.choice([1, 1.5]),
            disk_allocation_ratio=rng.choice([1, 2]),
        )
        if rng.random() < 0.5:
            h.consume(rng.randint(0, 4), rng.randint(0, 2048), rng.randint(0, 20))
        s = spec(
            vcpus=rng.randint(1, 20), memory_mb=rng.randint(1, 4096), disk_gb=rng.randint(0, 50)
        )
        cap = Capacity.of(h)
        cores_short = bool(capacity.vcpu_shortfall(cap, s.vcpus))
        assert CoreFilter().host_passes(h, s) is not cores_short
        assert RamFilter().host_passes(h, s) is not bool(
            capacity.memory_shortfall(cap, s.memory_mb)
        )
        assert DiskFilter().host_passes(h, s) is not bool(capacity.disk_shortfall(cap, s.disk_gb))
        all_pass = all(f.host_passes(h, s) for f in filters.values())
        assert all_pass is not bool(capacity.shortfalls(cap, s.vcpus, s.memory_mb, s.disk_gb))


@pytest.mark.parametrize(
    "f,request_kw",
    [
        (AvailabilityZoneFilter(), dict(availability_zone="az1")),
        (ImagePropertiesFilter(), dict(image=ImageProps(min_disk_gb=1))),
        (ServerGroupAffinityFilter(), dict(group=GroupSpec("g", "affinity"))),
        (ServerGroupAntiAffinityFilter(), dict(group=GroupSpec("g", "anti-affinity"))),
    ],
)
def test_optional_filters_apply_only_to_requests_that_need_them(f, request_kw):
    assert not f.applies_to(spec())
    assert f.applies_to(spec(**request_kw))
