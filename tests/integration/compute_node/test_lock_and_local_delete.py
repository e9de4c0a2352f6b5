"""Lock and unlock, and deleting a server whose host is down (Nova's local delete), through a
real agent on libvirt's test driver and the in-process controller."""

import grpc
import pytest

from controller.compute.conductor import outbox
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import (
    Allocation,
    ComputeNode,
    HostCleanup,
    InstanceAction,
    InstanceActionEvent,
)
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.integration.compute_node.node_support import actions_of
from tests.integration.compute_node.test_node_stream import row, wait_until, zone_of
from tests.support.errors import raises


def _call(servers, method, metadata, **fields):
    request = getattr(cpb, f"{method}Request")(**fields)
    return getattr(servers.stub, method)(request, metadata=metadata)


def _refused(code, expected_reason, fn, *args, **kw):
    with raises(code, expected_reason or None):
        fn(*args, **kw)


def _actions(controller, server_id):
    return [action for action, _ in actions_of(controller, server_id)]


@pytest.fixture
def member(cloud):
    return cloud.tenant(role="member")


@pytest.fixture
def members_server(controller, node, servers, image_id, member):
    server = _call(
        servers,
        "CreateServer",
        member.metadata,
        server=cpb.Server(
            name="locked-vm",
            flavor_id=servers.flavor(),
            image_id=image_id,
            availability_zone=zone_of(controller, node),
        ),
    )
    servers.wait_status(server.id, cpb.SERVER_STATUS_ACTIVE)
    return server.id


def test_a_locked_server_refuses_its_owner_and_obeys_admins(
    controller, servers, members_server, member, cloud
):
    server_id = members_server
    locked = _call(servers, "LockServer", member.metadata, id=server_id, reason="maintenance")
    assert locked.locked and locked.locked_reason == "maintenance"
    again = _call(servers, "LockServer", member.metadata, id=server_id, reason="other")
    assert again.locked_reason == "maintenance"  # locking a locked server changes nothing
    before = servers.get(server_id)
    for method in ("StopServer", "RebootServer", "PauseServer", "DeleteServer"):
        _refused(
            grpc.StatusCode.FAILED_PRECONDITION,
            "SERVER_LOCKED",
            _call,
            servers,
            method,
            member.metadata,
            id=server_id,
        )
    after = servers.get(server_id)
    assert (after.status, after.task_state, after.revision) == (
        before.status,
        before.task_state,
        before.revision,
    )
    # An admin acts on it all the same (Nova: the lock binds non-admins only).
    _call(servers, "StopServer", cloud.admin, id=server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)
    unlocked = _call(servers, "UnlockServer", member.metadata, id=server_id)
    assert not unlocked.locked and unlocked.locked_reason == ""
    _call(servers, "StartServer", member.metadata, id=server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert _actions(controller, server_id) == ["create", "lock", "stop", "unlock", "start"]


def test_only_admins_lift_an_admins_lock(servers, members_server, member, cloud):
    server_id = members_server
    _call(servers, "LockServer", cloud.admin, id=server_id)
    _refused(
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVER_LOCKED_BY_ADMIN",
        _call,
        servers,
        "UnlockServer",
        member.metadata,
        id=server_id,
    )
    assert servers.get(server_id).locked
    assert not _call(servers, "UnlockServer", cloud.admin, id=server_id).locked


def test_lock_refusals_change_nothing(servers, members_server, member, cloud):
    server_id = members_server
    stranger = cloud.tenant(role="member")
    reader = cloud.tenant(role="reader", project_id=member.project_id)
    _refused(
        grpc.StatusCode.NOT_FOUND,
        "SERVER_NOT_FOUND",
        _call,
        servers,
        "LockServer",
        stranger.metadata,
        id=server_id,
    )
    _refused(
        grpc.StatusCode.PERMISSION_DENIED,
        "",
        _call,
        servers,
        "LockServer",
        reader.metadata,
        id=server_id,
    )
    _refused(
        grpc.StatusCode.INVALID_ARGUMENT,
        "",
        _call,
        servers,
        "LockServer",
        member.metadata,
        id=server_id,
        reason="x" * 256,
    )
    assert not servers.get(server_id).locked


def _host_down(controller, node):
    node.stop()
    controller.app.db.call(
        lambda: ComputeNode.update(forced_down=True).where(ComputeNode.id == node.node_id).execute()
    )


def _host_back(controller, node):
    controller.app.db.call(
        lambda: (
            ComputeNode.update(forced_down=False).where(ComputeNode.id == node.node_id).execute()
        )
    )
    node.start()


def test_deleting_a_server_on_a_down_host_frees_it_now_and_destroys_the_guest_on_return(
    controller, node, servers, image_id
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _host_down(controller, node)
    servers.action("Pause", server_id)  # waits in the outbox for the host
    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=5)
    assert row(controller, Allocation, server_id) is None  # the claim is free at once
    cleanup = controller.app.db.call(
        lambda: [
            (c.node_id, c.reason)
            for c in HostCleanup.select().where(HostCleanup.instance_id == server_id)
        ]
    )
    assert cleanup == [(node.node_id, "deleted_while_down")]
    power = controller.app.db.call(
        lambda: NodeCommand.get(NodeCommand.instance_id == server_id, NodeCommand.kind == "power")
    )
    assert (power.state, power.error_code) == (outbox.FAILED, "CANCELLED")
    assert server_id in node.driver.list_instances()  # the host has not heard yet
    # [conductor] running_deleted_instance_action is "log" here: this guest goes regardless.
    _host_back(controller, node)
    wait_until(lambda: server_id not in node.driver.list_instances(), "the stale guest destroyed")
    wait_until(
        lambda: (
            not controller.app.db.call(
                lambda: HostCleanup.select().where(HostCleanup.instance_id == server_id).exists()
            )
        ),
        "the cleanup forgotten",
    )
    assert _actions(controller, server_id)[-2:] == ["pause", "delete"]
    events = controller.app.db.call(
        lambda: [
            (e.event, e.result)
            for e in InstanceActionEvent.select()
            .join(InstanceAction, on=(InstanceActionEvent.action_id == InstanceAction.id))
            .where(InstanceAction.instance_id == server_id, InstanceAction.action == "delete")
        ]
    )
    assert events == [("local_delete", "success")]


def test_a_delete_stuck_on_a_host_that_died_is_finished_by_deleting_again(
    controller, node, servers, image_id
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.stop()
    servers.delete(server_id)  # the host is not known to be down yet: DELETING, waiting
    assert servers.get(server_id).task_state == cpb.TASK_STATE_DELETING
    _host_down(controller, node)
    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=5)
    _host_back(controller, node)
    wait_until(lambda: server_id not in node.driver.list_instances(), "the stale guest destroyed")
