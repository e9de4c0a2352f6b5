"""Placement through the real controller: concurrent CreateServer calls against limited
capacity, server groups, disabled and down hosts, zones."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import peewee

from controller.compute.records.models import Allocation
from stratus.compute.v1 import compute_service_pb2 as pb
from tests.integration.compute.compute_support import add_hosts
from tests.support.errors import raises


def _tenant(compute, cloud):
    t = cloud.tenant()
    compute.unlimited(t.project_id)
    return t


def test_200_concurrent_creates_against_capacity_for_100_place_exactly_100(compute, cloud, db):
    zone, hosts = add_hosts(db, 10, vcpus=10, cpu_ratio=1.0)
    t = _tenant(compute, cloud)
    flavor = compute.flavor(vcpus=1, ram_mb=128)
    image = compute.image()
    with ThreadPoolExecutor(32) as pool:
        created = list(pool.map(lambda i: compute.create(t, flavor.id, image, zone), range(200)))
    assert all(s.status == pb.SERVER_STATUS_BUILD for s in created)
    final = [compute.wait_placed(t, s.id, timeout=120) for s in created]
    placed = [s for s in final if s.task_state == pb.TASK_STATE_SPAWNING]
    refused = [s for s in final if s.status == pb.SERVER_STATUS_ERROR]
    assert (len(placed), len(refused)) == (100, 100)
    assert {s.fault.message for s in refused} == {"No valid host was found"}
    ids = [h["id"] for h in hosts]
    usage = db.call(
        lambda: dict(
            Allocation.select(Allocation.node_id, peewee.fn.SUM(Allocation.vcpus))
            .where(Allocation.node_id.in_(ids))
            .group_by(Allocation.node_id)
            .tuples()
        )
    )
    assert sum(usage.values()) == 100 and max(usage.values()) <= 10


def test_anti_affinity_spreads_and_refuses_beyond_the_hosts(compute, cloud, db):
    zone, _hosts = add_hosts(db, 3)
    t = _tenant(compute, cloud)
    flavor, image = compute.flavor(), compute.image()
    group = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(name="spread", policy=pb.SERVER_GROUP_POLICY_ANTI_AFFINITY)
        ),
        metadata=t.metadata,
    )
    servers = [
        compute.create(t, flavor.id, image, zone, server_group_id=group.id) for _ in range(4)
    ]
    final = [compute.wait_placed(t, s.id) for s in servers]
    on_hosts = [s.host for s in final if s.host]
    assert len(on_hosts) == 3 and len(set(on_hosts)) == 3
    assert [s.status for s in final].count(pb.SERVER_STATUS_ERROR) == 1
    members = compute.stub.GetServerGroup(
        pb.GetServerGroupRequest(id=group.id), metadata=t.metadata
    ).member_ids
    assert sorted(members) == sorted(s.id for s in servers)


def test_affinity_keeps_members_together(compute, cloud, db):
    zone, _ = add_hosts(db, 3)
    t = _tenant(compute, cloud)
    flavor, image = compute.flavor(), compute.image()
    group = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(name="together", policy=pb.SERVER_GROUP_POLICY_AFFINITY)
        ),
        metadata=t.metadata,
    )
    first = compute.wait_placed(
        t, compute.create(t, flavor.id, image, zone, server_group_id=group.id).id
    )
    rest = [
        compute.wait_placed(
            t, compute.create(t, flavor.id, image, zone, server_group_id=group.id).id
        )
        for _ in range(3)
    ]
    assert {s.host for s in rest} == {first.host}


def test_disabled_and_down_hosts_get_nothing(compute, cloud, db):
    zone, [disabled] = add_hosts(db, 1)
    add_hosts(db, 1, zone=zone, up=False)
    t = _tenant(compute, cloud)
    flavor, image = compute.flavor(), compute.image()
    compute.stub.DisableComputeService(
        pb.DisableComputeServiceRequest(id=disabled["id"], reason="maintenance"),
        metadata=cloud.admin,
    )
    server = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    assert server.status == pb.SERVER_STATUS_ERROR
    record = compute.stub.EnableComputeService(
        pb.EnableComputeServiceRequest(id=disabled["id"]), metadata=cloud.admin
    )
    assert record.status == pb.SERVICE_STATUS_ENABLED and record.disabled_reason == ""
    again = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    assert again.host == disabled["hostname"]


def test_operator_views(compute, cloud, db):
    zone, hosts = add_hosts(db, 2, vcpus=4, memory_mb=4096, disk_gb=50)
    t = _tenant(compute, cloud)
    flavor, image = compute.flavor(vcpus=2, ram_mb=1024, disk_gb=10), compute.image()
    server = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    node = next(h for h in hosts if h["hostname"] == server.host)
    hv = compute.stub.GetHypervisor(
        pb.GetHypervisorRequest(id=node["id"], with_servers=True), metadata=cloud.admin
    )
    assert (hv.vcpus, hv.vcpus_used, hv.memory_mb_used, hv.local_gb_used, hv.running_vms) == (
        4,
        2,
        1024,
        10,
        1,
    )
    assert [s.id for s in hv.servers] == [server.id]
    assert hv.state == pb.SERVICE_STATE_UP and hv.cpu_allocation_ratio == 4.0
    listed = compute.stub.ListComputeServices(
        pb.ListComputeServicesRequest(host=node["hostname"]), metadata=cloud.admin
    ).services
    assert [s.id for s in listed] == [node["id"]]
    zones = compute.stub.ListAvailabilityZones(
        pb.ListAvailabilityZonesRequest(), metadata=t.metadata
    ).availability_zones
    mine = next(z for z in zones if z.name == zone)
    assert mine.available and list(mine.hosts) == []  # hosts are for admins
    stats = compute.stub.GetHypervisorStatistics(
        pb.GetHypervisorStatisticsRequest(), metadata=cloud.admin
    )
    assert stats.count >= 2 and stats.vcpus_used >= 2
    for call, request in [
        (compute.stub.ListHypervisors, pb.ListHypervisorsRequest()),
        (compute.stub.ListComputeServices, pb.ListComputeServicesRequest()),
        (compute.stub.DisableComputeService, pb.DisableComputeServiceRequest(id=node["id"])),
        (compute.stub.GetHypervisorStatistics, pb.GetHypervisorStatisticsRequest()),
    ]:
        with raises(grpc.StatusCode.PERMISSION_DENIED):
            call(request, metadata=t.metadata)
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.stub.GetHypervisor(
            pb.GetHypervisorRequest(id="00000000-0000-4000-8000-000000000000"), metadata=cloud.admin
        )
