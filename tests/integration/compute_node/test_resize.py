"""ResizeServer, ConfirmServerResize and RevertServerResize through real agents on libvirt's
test driver: the claim of the new flavor (same host when allowed, else another), the disk
through the image store, both allocations until the confirm, and the way back."""

import contextlib
import datetime
import json
import os
import subprocess

import grpc

from controller.compute.records.models import Allocation, ComputeNode, Migration
from controller.db.queries import utcnow
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.integration.compute_node.node_support import actions_of
from tests.integration.compute_node.test_node_stream import wait_until, zone_of
from tests.support.errors import raises

MARK = 0x5A


@contextlib.contextmanager
def resize_settings(controller, **values):
    settings = controller.app.compute_conductor.resize_settings
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


def _disk(node, server_id):
    return os.path.join(node.directory, "instances", server_id, "disk")


def _mark(node, server_id):
    subprocess.run(
        ["qemu-io", "-c", f"write -P {MARK} 0 64k", _disk(node, server_id)],
        check=True,
        capture_output=True,
    )


def _disk_facts(node, server_id, tmp_path):
    """(virtual size, first 4 KiB) of the guest's disk."""
    info = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", _disk(node, server_id)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    raw = tmp_path / f"{server_id}.raw"
    subprocess.run(
        ["qemu-img", "convert", "-U", "-O", "raw", _disk(node, server_id), str(raw)],
        check=True,
        capture_output=True,
    )
    return json.loads(info)["virtual-size"], raw.read_bytes()[:4096]


def _allocations(controller, server_id):
    def load():
        ids = [server_id] + [
            m.id for m in Migration.select().where(Migration.instance_id == server_id)
        ]
        return sorted(
            ("server" if a.instance_id == server_id else "migration", a.node_id, a.memory_mb)
            for a in Allocation.select().where(Allocation.instance_id.in_(ids))
        )

    return controller.app.db.call(load)


def _resize(servers, server_id, flavor_id, metadata=None):
    return servers.stub.ResizeServer(
        cpb.ResizeServerRequest(id=server_id, flavor_id=flavor_id),
        metadata=metadata or servers.tenant.metadata,
    )


def _end(servers, verb, server_id, metadata=None):
    request = getattr(cpb, f"{verb}ServerResizeRequest")(id=server_id)
    return getattr(servers.stub, f"{verb}ServerResize")(
        request, metadata=metadata or servers.tenant.metadata
    )


GiB = 1 << 30


def test_a_resize_on_the_same_host_grows_the_guest_and_is_confirmed(
    controller, node, servers, image_id, tmp_path
):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=2)
    server_id = servers.create(small, image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _mark(node, server_id)
    with resize_settings(controller, allow_resize_to_same_host=True):
        started = _resize(servers, server_id, big)
        assert started.status == cpb.SERVER_STATUS_RESIZE
        resized = servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    assert resized.flavor.ram_mb == 512 and resized.flavor_id == big
    assert node.driver.get_info(server_id).memory_mb == 512  # the guest has the new size
    size, head = _disk_facts(node, server_id, tmp_path)
    assert size == 2 * GiB and head == bytes([MARK]) * 4096  # grown, its data kept
    assert _allocations(controller, server_id) == [
        ("migration", node.node_id, 256),
        ("server", node.node_id, 512),
    ]
    confirmed = _end(servers, "Confirm", server_id)
    assert confirmed.task_state == cpb.TASK_STATE_RESIZE_CONFIRMING
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert _allocations(controller, server_id) == [("server", node.node_id, 512)]
    assert not os.path.exists(_disk(node, server_id).rsplit("/", 1)[0] + "_resize")
    assert actions_of(controller, server_id) == [
        ("create", "success"),
        ("resize", "success"),
        ("confirm_resize", "success"),
    ]


def test_a_revert_brings_back_the_old_flavor_and_guest(
    controller, node, servers, image_id, tmp_path
):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=2)
    server_id = servers.create(small, image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _mark(node, server_id)
    with resize_settings(controller, allow_resize_to_same_host=True):
        _resize(servers, server_id, big)
        servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    reverting = _end(servers, "Revert", server_id)
    assert reverting.status == cpb.SERVER_STATUS_REVERT_RESIZE
    back = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert back.flavor_id == small and back.flavor.ram_mb == 256
    assert node.driver.get_info(server_id).memory_mb == 256
    size, head = _disk_facts(node, server_id, tmp_path)
    assert size == GiB and head == bytes([MARK]) * 4096
    assert _allocations(controller, server_id) == [("server", node.node_id, 256)]


def test_a_resize_to_another_host_moves_the_disk_and_reverts_back(
    controller, node, second_node, servers, image_id, tmp_path
):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=2)
    zone = controller.app.db.call(lambda: ComputeNode.get_by_id(node.node_id).availability_zone)
    server_id = servers.create(small, image_id, zone)
    first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    source, dest = (node, second_node) if first.host == node.host else (second_node, node)
    _mark(source, server_id)
    _resize(servers, server_id, big)  # the same host is not allowed: the other one
    moved = servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    assert moved.host == dest.host
    assert dest.driver.get_info(server_id).memory_mb == 512
    assert server_id not in source.driver.list_instances()  # set aside, not running
    size, head = _disk_facts(dest, server_id, tmp_path)
    assert size == 2 * GiB and head == bytes([MARK]) * 4096
    assert _allocations(controller, server_id) == sorted(
        [("migration", source.node_id, 256), ("server", dest.node_id, 512)]
    )
    _end(servers, "Revert", server_id)
    back = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert back.host == source.host and back.flavor.ram_mb == 256
    wait_until(lambda: server_id not in dest.driver.list_instances(), "the new guest gone")
    assert source.driver.get_info(server_id).power_state.value == "RUNNING"
    assert _allocations(controller, server_id) == [("server", source.node_id, 256)]


def test_resizes_refused_change_nothing(controller, node, servers, image_id, cloud):
    small = servers.flavor(ram_mb=256, disk_gb=2)
    smaller_disk = servers.flavor(ram_mb=512, disk_gb=1)
    big = servers.flavor(ram_mb=512, disk_gb=2)
    server_id = servers.create(small, image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    stranger = cloud.tenant(role="member")
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
        _resize(servers, server_id, big, stranger.metadata)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "SAME_FLAVOR"):
        _resize(servers, server_id, small)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_DISK_SMALLER"):
        _resize(servers, server_id, smaller_disk)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "FLAVOR_NOT_FOUND"):
        _resize(servers, server_id, "no-such-flavor")
    for verb in ("Confirm", "Revert"):
        with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
            _end(servers, verb, server_id)
    servers.action("Pause", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_PAUSED)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        _resize(servers, server_id, big)
    server = servers.get(server_id)
    assert server.flavor_id == small and server.status == cpb.SERVER_STATUS_PAUSED
    assert _allocations(controller, server_id) == [("server", node.node_id, 256)]


def test_a_resize_with_no_other_host_rolls_back(controller, node, servers, image_id):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=1)
    server_id = servers.create(small, image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _resize(servers, server_id, big)  # alone in its zone, and the same host is not allowed
    back = servers.wait(
        server_id,
        lambda s: s.task_state == cpb.TASK_STATE_NONE and s.flavor_id == small,
        what="rolled back",
    )
    assert back.status == cpb.SERVER_STATUS_ACTIVE
    assert _allocations(controller, server_id) == [("server", node.node_id, 256)]
    assert actions_of(controller, server_id)[-1] == ("resize", "error")
    assert node.driver.get_info(server_id).power_state.value == "RUNNING"


def test_a_resize_left_waiting_is_confirmed_after_the_window(controller, node, servers, image_id):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=1)
    server_id = servers.create(small, image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    with resize_settings(controller, allow_resize_to_same_host=True, resize_confirm_window=60):
        _resize(servers, server_id, big)
        servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
        controller.run(controller.app.compute_conductor.sweep_once())
        assert servers.get(server_id).status == cpb.SERVER_STATUS_VERIFY_RESIZE  # not yet
        # The window passes (the migration's time is moved, not the clock).
        controller.app.db.call(
            lambda: (
                Migration.update(updated_at=utcnow() - datetime.timedelta(seconds=61))
                .where(Migration.instance_id == server_id)
                .execute()
            )
        )
        controller.run(controller.app.compute_conductor.sweep_once())
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert _allocations(controller, server_id) == [("server", node.node_id, 512)]
    assert actions_of(controller, server_id)[-1] == ("confirm_resize", "success")


def test_a_cold_migration_moves_the_guest_and_its_data_to_another_host(
    controller, node, second_node, servers, image_id, tmp_path, cloud
):
    flavor = servers.flavor(ram_mb=256, disk_gb=1)
    zone = controller.app.db.call(lambda: ComputeNode.get_by_id(node.node_id).availability_zone)
    server_id = servers.create(flavor, image_id, zone)
    first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    source, dest = (node, second_node) if first.host == node.host else (second_node, node)
    _mark(source, server_id)
    member = cloud.tenant(role="member", project_id=servers.tenant.project_id)
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        servers.stub.MigrateServer(cpb.MigrateServerRequest(id=server_id), metadata=member.metadata)
    servers.action("Migrate", server_id)
    moved = servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    assert moved.host == dest.host and moved.flavor_id == flavor
    size, head = _disk_facts(dest, server_id, tmp_path)
    assert size == GiB and head == bytes([MARK]) * 4096  # the data, intact on the new host
    _end(servers, "Confirm", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert server_id not in source.driver.list_instances()
    assert not os.path.exists(_disk(source, server_id).rsplit("/", 1)[0] + "_resize")
    assert _allocations(controller, server_id) == [("server", dest.node_id, 256)]
    assert [a for a, _ in actions_of(controller, server_id)] == [
        "create",
        "migrate",
        "confirm_resize",
    ]


def test_deleting_a_server_waiting_for_its_confirm_clears_both_hosts(
    controller, node, second_node, servers, image_id
):
    small, big = servers.flavor(ram_mb=256, disk_gb=1), servers.flavor(ram_mb=512, disk_gb=1)
    zone = controller.app.db.call(lambda: ComputeNode.get_by_id(node.node_id).availability_zone)
    server_id = servers.create(small, image_id, zone)
    first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    source, dest = (node, second_node) if first.host == node.host else (second_node, node)
    _resize(servers, server_id, big)
    servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    servers.delete(server_id)
    servers.wait_deleted(server_id)
    aside = _disk(source, server_id).rsplit("/", 1)[0] + "_resize"
    wait_until(lambda: not os.path.exists(aside), "the old guest's files removed")
    assert server_id not in dest.driver.list_instances()
    assert _allocations(controller, server_id) == []
