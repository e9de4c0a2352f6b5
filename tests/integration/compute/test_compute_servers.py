"""Servers through the real controller: create, placement, reads, updates, deletes, and the
exact status code of each bad request, with nothing left behind."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from controller.compute.conductor import convert
from controller.compute.conductor.models import NodeCommand
from controller.compute.records import lifecycle
from controller.compute.records.models import Allocation, Instance
from stratus.compute.v1 import compute_service_pb2 as pb
from tests.integration.compute.compute_support import GIB, add_hosts
from tests.support.errors import raises


@pytest.fixture(scope="module")
def env(compute, cloud, db):
    zone, hosts = add_hosts(db, 2)
    tenant = cloud.tenant()
    compute.unlimited(tenant.project_id)
    return dict(
        zone=zone, hosts=hosts, tenant=tenant, flavor=compute.flavor(), image=compute.image()
    )


def _allocations(db, server_id):
    return db.call(lambda: Allocation.select().where(Allocation.instance_id == server_id).count())


def _rows(db, project_id):
    return db.call(lambda: Instance.select().where(Instance.project_id == project_id).count())


def test_create_returns_build_then_places_on_a_host(compute, env, db, cloud):
    t = env["tenant"]
    server = compute.create(
        t, env["flavor"].id, env["image"], env["zone"], metadata={"role": "web"}
    )
    assert server.status == pb.SERVER_STATUS_BUILD
    assert server.task_state == pb.TASK_STATE_SCHEDULING
    assert server.project_id == t.project_id and server.user_id == t.user_id
    assert server.flavor.vcpus == env["flavor"].vcpus
    placed = compute.wait_placed(t, server.id)
    assert placed.status == pb.SERVER_STATUS_BUILD
    assert placed.task_state == pb.TASK_STATE_SPAWNING
    assert placed.host in {h["hostname"] for h in env["hosts"]}
    assert _allocations(db, server.id) == 1
    # the owner does not see the host; admins do
    assert compute.get(t, server.id).host == ""
    assert placed.revision > server.revision


def test_other_projects_get_not_found(compute, env, cloud):
    server = compute.create(env["tenant"], env["flavor"].id, env["image"], env["zone"])
    other = cloud.tenant()
    for call, request in [
        (compute.stub.GetServer, pb.GetServerRequest(id=server.id)),
        (compute.stub.DeleteServer, pb.DeleteServerRequest(id=server.id)),
        (compute.stub.StopServer, pb.StopServerRequest(id=server.id)),
        (
            compute.stub.UpdateServer,
            pb.UpdateServerRequest(
                server=pb.Server(id=server.id, name="x"), update_mask={"paths": ["name"]}
            ),
        ),
        (compute.stub.ListServerActions, pb.ListServerActionsRequest(server_id=server.id)),
    ]:
        with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
            call(request, metadata=other.metadata)
    listed = compute.stub.ListServers(pb.ListServersRequest(), metadata=other.metadata)
    assert server.id not in [s.id for s in listed.servers]
    assert compute.get(env["tenant"], server.id).name == server.name


def test_reader_reads_but_cannot_create(compute, env, cloud):
    reader = cloud.tenant("reader", project_id=env["tenant"].project_id)
    server = compute.create(env["tenant"], env["flavor"].id, env["image"], env["zone"])
    assert compute.get(reader, server.id).id == server.id
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        compute.create(reader, env["flavor"].id, env["image"], env["zone"])


def test_request_id_makes_create_idempotent(compute, env, db):
    t = env["tenant"]
    rid = "6f1e0c1a-0d3e-4a55-9a53-9d7d0c1b2f3a"
    before = _rows(db, t.project_id)
    first = compute.create(
        t, env["flavor"].id, env["image"], env["zone"], request_id=rid, name="same"
    )
    again = compute.create(
        t, env["flavor"].id, env["image"], env["zone"], request_id=rid, name="same"
    )
    assert again.id == first.id
    assert _rows(db, t.project_id) == before + 1
    with raises(grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED"):
        compute.create(
            t, env["flavor"].id, env["image"], env["zone"], request_id=rid, name="different"
        )
    assert _rows(db, t.project_id) == before + 1


@pytest.mark.parametrize(
    "server,code,reason,field",
    [
        (dict(name=""), grpc.StatusCode.INVALID_ARGUMENT, None, "server.name"),
        (dict(name="a\x01b"), grpc.StatusCode.INVALID_ARGUMENT, None, "server.name"),
        (
            dict(flavor_id="no-such-flavor"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "FLAVOR_NOT_FOUND",
            "server.flavor_id",
        ),
        (dict(image_id="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, None, "server.image_id"),
        (
            dict(image_id="00000000-0000-4000-8000-000000000000"),
            grpc.StatusCode.NOT_FOUND,
            "IMAGE_NOT_FOUND",
            None,
        ),
        (
            dict(key_name="no-such-key"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "KEY_PAIR_NOT_FOUND",
            "server.key_name",
        ),
        (
            dict(availability_zone="no-such-zone"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "AVAILABILITY_ZONE_NOT_FOUND",
            "server.availability_zone",
        ),
        (
            dict(server_group_id="00000000-0000-4000-8000-000000000000"),
            grpc.StatusCode.NOT_FOUND,
            "SERVER_GROUP_NOT_FOUND",
            None,
        ),
        (
            dict(metadata={str(i): "v" for i in range(129)}),
            grpc.StatusCode.INVALID_ARGUMENT,
            None,
            "server.metadata",
        ),
        (dict(user_data=b"x" * 65536), grpc.StatusCode.INVALID_ARGUMENT, None, "server.user_data"),
        (dict(request_id="has spaces"), grpc.StatusCode.INVALID_ARGUMENT, None, "request_id"),
    ],
)
def test_bad_creates_are_refused_and_leave_nothing(compute, env, db, server, code, reason, field):
    t = env["tenant"]
    args = dict(
        name="ok", flavor_id=env["flavor"].id, image_id=env["image"], availability_zone=env["zone"]
    )
    request_id = server.pop("request_id", "")
    args.update(server)
    before = _rows(db, t.project_id)
    with raises(code, reason, field):
        compute.stub.CreateServer(
            pb.CreateServerRequest(server=pb.Server(**args), request_id=request_id),
            metadata=t.metadata,
        )
    assert _rows(db, t.project_id) == before


@pytest.mark.parametrize(
    "image,code,reason",
    [
        (dict(status="queued"), grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_NOT_ACTIVE"),
        (dict(status="deactivated"), grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_NOT_ACTIVE"),
        (dict(size_bytes=2 * GIB), grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_DISK_TOO_SMALL"),
        (dict(min_disk_gb=5), grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_DISK_TOO_SMALL"),
        (dict(min_ram_mb=4096), grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_RAM_TOO_SMALL"),
    ],
)
def test_images_that_cannot_boot_on_the_flavor(compute, env, db, image, code, reason):
    t = env["tenant"]
    image_id = compute.images.add(**image)
    before = _rows(db, t.project_id)
    with raises(code, reason):
        compute.create(t, env["flavor"].id, image_id, env["zone"])
    assert _rows(db, t.project_id) == before


def test_another_projects_private_image_is_not_found(compute, env, cloud):
    image_id = compute.images.add(owner=cloud.tenant().project_id)
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        compute.create(env["tenant"], env["flavor"].id, image_id, env["zone"])


def test_private_flavor_of_another_project_is_invalid(compute, env, cloud):
    flavor = compute.flavor(is_public=False)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_NOT_FOUND", "server.flavor_id"):
        compute.create(env["tenant"], flavor.id, env["image"], env["zone"])


def test_nothing_fits_goes_to_error_with_fault_and_frees_everything(compute, env, db):
    big = compute.flavor(vcpus=64)
    t = env["tenant"]
    server = compute.create(t, big.id, env["image"], env["zone"])
    placed = compute.wait_placed(t, server.id)
    assert placed.status == pb.SERVER_STATUS_ERROR
    assert placed.fault.message == "No valid host was found"
    assert placed.fault.code == 500
    assert placed.host == ""
    assert _allocations(db, server.id) == 0
    actions = compute.stub.ListServerActions(
        pb.ListServerActionsRequest(server_id=server.id), metadata=t.metadata
    ).actions
    assert [(a.action, a.result) for a in actions] == [("create", pb.ACTION_RESULT_ERROR)]


def _finish_on_host(db, server_id):
    """What the conductor does once the host has destroyed the server."""

    def finish():
        with db.write_transaction():
            lifecycle.mark_deleted(server_id)

    db.call(finish)


def test_delete_frees_allocation_and_quota(compute, env, db):
    t = env["tenant"]
    server = compute.create(t, env["flavor"].id, env["image"], env["zone"])
    compute.wait_placed(t, server.id)
    usage = compute.stub.GetQuotas(pb.GetQuotasRequest(), metadata=t.metadata).usage
    compute.stub.DeleteServer(pb.DeleteServerRequest(id=server.id), metadata=t.metadata)
    try:  # with a conductor, the host must destroy it first; without one it is gone at once
        assert compute.get(t, server.id).task_state == pb.TASK_STATE_DELETING
        compute.stub.DeleteServer(pb.DeleteServerRequest(id=server.id), metadata=t.metadata)
    except grpc.RpcError as gone:
        assert gone.code() == grpc.StatusCode.NOT_FOUND  # noqa: PT017 - it may also succeed
    _finish_on_host(db, server.id)
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
        compute.get(t, server.id)
    assert _allocations(db, server.id) == 0
    after = compute.stub.GetQuotas(pb.GetQuotasRequest(), metadata=t.metadata).usage
    assert after.instances == usage.instances - 1
    assert after.cores == usage.cores - env["flavor"].vcpus
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.stub.DeleteServer(pb.DeleteServerRequest(id=server.id), metadata=t.metadata)


def test_delete_while_scheduling_frees_the_claim(compute, env, db):
    """A server deleted before its claim commits is gone, and the claim rolls back."""
    t = env["tenant"]
    server = compute.create(t, env["flavor"].id, env["image"], env["zone"])
    compute.stub.DeleteServer(pb.DeleteServerRequest(id=server.id), metadata=t.metadata)
    _finish_on_host(db, server.id)  # a no-op unless the claim won the race to a host
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.get(t, server.id)
    assert _allocations(db, server.id) == 0


def test_update_name_and_metadata_only(compute, env):
    t = env["tenant"]
    server = compute.create(t, env["flavor"].id, env["image"], env["zone"])
    updated = compute.stub.UpdateServer(
        pb.UpdateServerRequest(
            server=pb.Server(id=server.id, name="renamed", metadata={"a": "b"}, flavor_id="x"),
            update_mask={"paths": ["name", "metadata"]},
        ),
        metadata=t.metadata,
    )
    assert (updated.name, dict(updated.metadata)) == ("renamed", {"a": "b"})
    assert updated.flavor_id == server.flavor_id
    for paths in (["flavor_id"], [], ["status"]):
        with raises(grpc.StatusCode.INVALID_ARGUMENT, field="update_mask"):
            compute.stub.UpdateServer(
                pb.UpdateServerRequest(
                    server=pb.Server(id=server.id), update_mask={"paths": paths}
                ),
                metadata=t.metadata,
            )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="server.name"):
        compute.stub.UpdateServer(
            pb.UpdateServerRequest(
                server=pb.Server(id=server.id, name=""), update_mask={"paths": ["name"]}
            ),
            metadata=t.metadata,
        )


def test_list_filters_and_pagination(compute, env, cloud):
    t = cloud.tenant()
    names = [f"page-{i}" for i in range(5)]
    ids = [compute.create(t, env["flavor"].id, env["image"], env["zone"], name=n).id for n in names]
    seen, token = [], ""
    while True:
        page = compute.stub.ListServers(
            pb.ListServersRequest(page_size=2, page_token=token), metadata=t.metadata
        )
        assert len(page.servers) <= 2
        seen += [s.id for s in page.servers]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)
    one = compute.stub.ListServers(pb.ListServersRequest(name="page-3"), metadata=t.metadata)
    assert [s.name for s in one.servers] == ["page-3"]
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="page_size"):
        compute.stub.ListServers(pb.ListServersRequest(page_size=-1), metadata=t.metadata)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        compute.stub.ListServers(pb.ListServersRequest(page_token="garbage"), metadata=t.metadata)
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        compute.stub.ListServers(pb.ListServersRequest(all_projects=True), metadata=t.metadata)
    everyone = compute.stub.ListServers(
        pb.ListServersRequest(all_projects=True, project_id=t.project_id, page_size=1000),
        metadata=cloud.admin,
    )
    assert sorted(s.id for s in everyone.servers) == sorted(ids)


def test_actions_in_the_wrong_state_fail_precondition(compute, env):
    t = env["tenant"]
    server = compute.create(t, env["flavor"].id, env["image"], env["zone"])
    compute.wait_placed(t, server.id)  # BUILD: no action may start
    for call, request in [
        (compute.stub.StopServer, pb.StopServerRequest(id=server.id)),
        (compute.stub.StartServer, pb.StartServerRequest(id=server.id)),
        (compute.stub.RebootServer, pb.RebootServerRequest(id=server.id)),
        (compute.stub.PauseServer, pb.PauseServerRequest(id=server.id)),
        (compute.stub.ResumeServer, pb.ResumeServerRequest(id=server.id)),
    ]:
        with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
            call(request, metadata=t.metadata)
    assert compute.get(t, server.id).task_state == pb.TASK_STATE_SPAWNING


def test_concurrent_creates_share_quota_and_request_ids(compute, cloud, db):
    """Creates arriving together are recorded together: a retry racing its first attempt
    still gets the first server, and the quota still counts each."""
    zone, _ = add_hosts(db, 2)
    t = cloud.tenant()
    flavor, image = compute.flavor(vcpus=1), compute.image()
    rid = "0b3c7f52-5a0e-4b4e-8f7a-1c2d3e4f5a6b"
    with ThreadPoolExecutor(8) as pool:
        ids = set(
            pool.map(
                lambda _: compute.create(t, flavor.id, image, zone, name="same", request_id=rid).id,
                range(8),
            )
        )
    assert len(ids) == 1 and _rows(db, t.project_id) == 1
    compute.stub.UpdateQuotas(
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(project_id=t.project_id, limits=pb.QuotaValues(instances=5)),
            update_mask={"paths": ["limits.instances"]},
        ),
        metadata=cloud.admin,
    )

    def create(_):
        try:
            return compute.create(t, flavor.id, image, zone).id
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # noqa: PT017 - some succeed
            return None

    with ThreadPoolExecutor(12) as pool:
        created = [i for i in pool.map(create, range(12)) if i]
    assert len(created) == 4 and _rows(db, t.project_id) == 5


def test_a_placed_server_has_its_spawn_command_with_the_create_request_id(compute, env, db):
    t = env["tenant"]
    rid = "req-spawn-5e2f3a1b"
    server = compute.stub.CreateServer(
        pb.CreateServerRequest(
            server=pb.Server(
                name="spawned",
                flavor_id=env["flavor"].id,
                image_id=env["image"],
                availability_zone=env["zone"],
            )
        ),
        metadata=(*t.metadata, ("x-request-id", rid)),
    )
    placed = compute.wait_placed(t, server.id)
    assert placed.task_state == pb.TASK_STATE_SPAWNING
    spawns = db.call(
        lambda: list(
            NodeCommand.select().where(
                NodeCommand.instance_id == server.id, NodeCommand.kind == "spawn"
            )
        )
    )
    assert len(spawns) == 1
    assert spawns[0].request_id == rid and spawns[0].state == "pending"
    spawn = convert.command(spawns[0]).command.spawn  # as the node receives it
    assert spawn.name == "spawned"
    assert spawn.image.image_id == env["image"]
