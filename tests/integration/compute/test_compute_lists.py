"""ListServers filters beyond name and paging: status, image, flavor, host, changes_since;
and the server group member quota."""

import datetime

import grpc
from google.protobuf import timestamp_pb2

from controller.compute.records import lifecycle
from stratus.compute.v1 import compute_service_pb2 as pb
from tests.integration.compute.compute_support import add_hosts
from tests.support.errors import raises


def _ids(compute, tenant, **request):
    return {
        s.id
        for s in compute.stub.ListServers(
            pb.ListServersRequest(page_size=1000, **request), metadata=tenant.metadata
        ).servers
    }


def test_filters(compute, cloud, db):
    zone, hosts = add_hosts(db, 1)
    t = cloud.tenant()
    compute.unlimited(t.project_id)
    small, big = compute.flavor(), compute.flavor(vcpus=64)
    image_a, image_b = compute.image(), compute.image()
    a = compute.wait_placed(t, compute.create(t, small.id, image_a, zone).id)
    b = compute.wait_placed(t, compute.create(t, big.id, image_b, zone).id)  # no host fits
    assert b.status == pb.SERVER_STATUS_ERROR
    assert _ids(compute, t, status=pb.SERVER_STATUS_ERROR) == {b.id}
    assert _ids(compute, t, status=pb.SERVER_STATUS_BUILD) == {a.id}
    assert _ids(compute, t, image_id=image_a) == {a.id}
    assert _ids(compute, t, flavor_id=big.id) == {b.id}
    # host is an admin filter; a member's is ignored rather than revealing placement
    assert _ids(compute, t, host="no-such-host") == {a.id, b.id}
    admin_view = {
        s.id
        for s in compute.stub.ListServers(
            pb.ListServersRequest(all_projects=True, host=hosts[0]["hostname"], page_size=1000),
            metadata=cloud.admin,
        ).servers
    }
    assert admin_view == {a.id}


def test_changes_since_includes_deleted_servers(compute, cloud, db):
    zone, _ = add_hosts(db, 1)
    t = cloud.tenant()
    flavor, image = compute.flavor(), compute.image()
    old = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    since = timestamp_pb2.Timestamp()
    since.FromDatetime(datetime.datetime.now(datetime.UTC))
    gone = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    compute.stub.DeleteServer(pb.DeleteServerRequest(id=gone.id), metadata=t.metadata)

    def destroyed():  # as the conductor does once the host destroyed it
        with db.write_transaction():
            lifecycle.mark_deleted(gone.id)

    db.call(destroyed)
    listed = compute.stub.ListServers(
        pb.ListServersRequest(changes_since=since), metadata=t.metadata
    ).servers
    statuses = {s.id: s.status for s in listed}
    assert statuses.get(gone.id) == pb.SERVER_STATUS_DELETED
    assert old.id not in statuses
    assert gone.id not in _ids(compute, t)


def test_server_group_member_quota(compute, cloud, db):
    zone, _ = add_hosts(db, 2)
    t = cloud.tenant()
    compute.stub.UpdateQuotas(
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(
                project_id=t.project_id, limits=pb.QuotaValues(server_group_members=1)
            ),
            update_mask={"paths": ["limits.server_group_members"]},
        ),
        metadata=cloud.admin,
    )
    group = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(name="g", policy=pb.SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY)
        ),
        metadata=t.metadata,
    )
    flavor, image = compute.flavor(), compute.image()
    compute.create(t, flavor.id, image, zone, server_group_id=group.id)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED") as info:
        compute.create(t, flavor.id, image, zone, server_group_id=group.id)
    assert "server_group_members" in info.value.details()
    # without the group the same server is fine
    compute.create(t, flavor.id, image, zone)


def test_soft_anti_affinity_prefers_empty_hosts(compute, cloud, db):
    zone, hosts = add_hosts(db, 3)
    t = cloud.tenant()
    group = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(name="g", policy=pb.SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY)
        ),
        metadata=t.metadata,
    )
    flavor, image = compute.flavor(), compute.image()
    placed = [
        compute.wait_placed(
            t, compute.create(t, flavor.id, image, zone, server_group_id=group.id).id
        ).host
        for _ in range(3)
    ]
    assert sorted(placed) == sorted(h["hostname"] for h in hosts)
    fourth = compute.wait_placed(
        t, compute.create(t, flavor.id, image, zone, server_group_id=group.id).id
    )
    assert fourth.host  # soft: a fourth member still gets a host
