"""ShelveServer and UnshelveServer through real agents on libvirt's test driver: the disk
saved into an image and the host freed, then the server built again from it on any host."""

import os
import subprocess

import grpc

from controller.compute.records.models import Allocation
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.integration.compute_node.node_support import actions_of
from tests.integration.compute_node.test_node_stream import wait_until, zone_of
from tests.support.errors import raises

MARK = 0x5A


def _head(node, server_id, tmp_path) -> bytes:
    raw = tmp_path / f"{server_id}.raw"
    disk = os.path.join(node.directory, "instances", server_id, "disk")
    subprocess.run(
        ["qemu-img", "convert", "-U", "-O", "raw", disk, str(raw)], check=True, capture_output=True
    )
    return raw.read_bytes()[:4096]


def _gone(images, cloud, image_id) -> bool:
    try:
        images.GetImage(ipb.GetImageRequest(id=image_id), metadata=cloud.admin)
    except grpc.RpcError as error:
        return error.code() == grpc.StatusCode.NOT_FOUND
    return False


def test_a_shelved_server_frees_its_host_and_comes_back_with_its_disk(
    controller, node, servers, image_id, cloud, tmp_path
):
    images = ipb_grpc.ImageServiceStub(cloud.channel)
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    disk = os.path.join(node.directory, "instances", server_id, "disk")
    subprocess.run(
        ["qemu-io", "-c", f"write -P {MARK} 0 64k", disk], check=True, capture_output=True
    )
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        servers.action("Unshelve", server_id)
    shelving = servers.action("Shelve", server_id)
    assert shelving.task_state == cpb.TASK_STATE_SHELVING
    shelved = servers.wait_status(server_id, cpb.SERVER_STATUS_SHELVED_OFFLOADED)
    assert shelved.host == ""
    assert (
        controller.app.db.call(lambda: Allocation.get_or_none(Allocation.instance_id == server_id))
        is None
    )
    assert server_id not in node.driver.list_instances()
    aside = os.path.join(node.directory, "instances", f"{server_id}_resize")
    wait_until(lambda: not os.path.exists(aside), "the set-aside guest's files removed")
    saved = [
        i
        for i in images.ListImages(
            ipb.ListImagesRequest(page_size=1000), metadata=cloud.admin
        ).images
        if dict(i.properties).get("instance_uuid") == server_id
    ]
    assert [(i.name, i.status) for i in saved] == [
        (f"{shelved.name}-shelved", ipb.IMAGE_STATUS_ACTIVE)
    ]
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        servers.action("Shelve", server_id)
    servers.action("Unshelve", server_id)
    back = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert back.host == node.host and back.image_id == image_id
    assert _head(node, server_id, tmp_path) == bytes([MARK]) * 4096
    wait_until(lambda: _gone(images, cloud, saved[0].id), "the saved disk's image deleted")
    assert actions_of(controller, server_id) == [
        ("create", "success"),
        ("shelve", "success"),
        ("unshelve", "success"),
    ]


def test_deleting_a_shelved_server_deletes_its_saved_disk(
    controller, node, servers, image_id, cloud
):
    images = ipb_grpc.ImageServiceStub(cloud.channel)
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    servers.action("Shelve", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHELVED_OFFLOADED)
    (saved,) = [
        i.id
        for i in images.ListImages(
            ipb.ListImagesRequest(page_size=1000), metadata=cloud.admin
        ).images
        if dict(i.properties).get("instance_uuid") == server_id
    ]
    servers.delete(server_id)
    servers.wait_deleted(server_id)
    assert _gone(images, cloud, saved)
