"""RebuildServer through a real agent on libvirt's test driver: the same server on the same
host, its disk made again from the new image, with its new name and guest data."""

import os
import subprocess

import grpc
import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.integration.compute_node.node_support import actions_of, upload_image
from tests.integration.compute_node.test_node_stream import zone_of
from tests.support import config_drive
from tests.support.errors import raises

OTHER_DISK = b"\x11" * (1 << 20)


@pytest.fixture(scope="module")
def other_image(cloud):
    return upload_image(cloud, OTHER_DISK, "raw")


def _rebuild(servers, metadata, server_id, **fields):
    return servers.stub.RebuildServer(
        cpb.RebuildServerRequest(id=server_id, **fields), metadata=metadata
    )


def _disk_head(node, server_id, tmp_path) -> bytes:
    raw = tmp_path / f"{server_id}.raw"
    disk = os.path.join(node.directory, "instances", server_id, "disk")
    subprocess.run(
        ["qemu-img", "convert", "-U", "-O", "raw", disk, str(raw)], check=True, capture_output=True
    )
    return raw.read_bytes()[:4096]


def test_a_rebuild_makes_the_disk_again_from_the_new_image(
    controller, node, servers, image_id, other_image, tmp_path
):
    server_id = servers.create(
        servers.flavor(), image_id, zone_of(controller, node), user_data=b"#!/bin/sh\nold\n"
    )
    before = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert _disk_head(node, server_id, tmp_path) == b"\0" * 4096
    started = _rebuild(
        servers,
        servers.tenant.metadata,
        server_id,
        image_id=other_image,
        name="rebuilt",
        user_data=b"#!/bin/sh\nnew\n",
    )
    assert started.status == cpb.SERVER_STATUS_REBUILD
    assert started.task_state == cpb.TASK_STATE_REBUILDING
    after = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert (after.id, after.host, after.image_id, after.name) == (
        server_id,
        before.host,
        other_image,
        "rebuilt",
    )
    assert _disk_head(node, server_id, tmp_path) == b"\x11" * 4096
    drive = os.path.join(node.directory, "instances", server_id, "disk.config")
    files = config_drive.read(drive)
    assert files["openstack/latest/user_data"] == b"#!/bin/sh\nnew\n"
    assert b'"hostname": "rebuilt"' in files["openstack/latest/meta_data.json"]
    assert actions_of(controller, server_id) == [("create", "success"), ("rebuild", "success")]


def test_rebuilds_refused_change_nothing(controller, node, servers, image_id, other_image, cloud):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    owner = servers.tenant.metadata
    stranger = cloud.tenant(role="member")
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
        _rebuild(servers, stranger.metadata, server_id, image_id=other_image)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="image_id"):
        _rebuild(servers, owner, server_id, image_id="not-a-uuid")
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        _rebuild(servers, owner, server_id, image_id="00000000-0000-4000-8000-000000000000")
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "KEY_PAIR_NOT_FOUND"):
        _rebuild(servers, owner, server_id, key_name="nobody's key")
    servers.action("Pause", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_PAUSED)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        _rebuild(servers, owner, server_id, image_id=other_image)
    unchanged = servers.get(server_id)
    assert unchanged.image_id == image_id
    assert unchanged.status == cpb.SERVER_STATUS_PAUSED
