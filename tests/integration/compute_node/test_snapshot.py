"""CreateServerImage through a real agent on libvirt's test driver: the node flattens the
guest's disk to qcow2 and sends it over its own connection into the image service."""

import os
import subprocess

import grpc
import pytest

from controller.compute.conductor import outbox
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import InstanceAction
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.integration.compute_node.test_node_stream import wait_until, zone_of
from tests.support.errors import raises

MARK = 0x5A


@pytest.fixture
def images(cloud):
    return ipb_grpc.ImageServiceStub(cloud.channel)


def _image(images, cloud, image_id):
    return images.GetImage(ipb.GetImageRequest(id=image_id), metadata=cloud.admin)


def _project_images(images, tenant):
    listed = images.ListImages(ipb.ListImagesRequest(page_size=1000), metadata=tenant.metadata)
    return sorted(i.id for i in listed.images if i.owner == tenant.project_id)


def _snapshot(servers, server_id, metadata, name="snap", **meta):
    return servers.stub.CreateServerImage(
        cpb.CreateServerImageRequest(server_id=server_id, name=name, metadata=meta),
        metadata=metadata,
    )


def _mark_disk(node, server_id):
    """Writes a pattern into the guest's disk, as a guest would (the test driver runs none)."""
    disk = os.path.join(node.directory, "instances", server_id, "disk")
    subprocess.run(
        ["qemu-io", "-c", f"write -P {MARK} 0 64k", disk], check=True, capture_output=True
    )


def _data(images, cloud, image_id, tmp_path) -> bytes:
    """The image's data, as raw bytes of its disk."""
    path = tmp_path / f"{image_id}.qcow2"
    with open(path, "wb") as f:
        for piece in images.DownloadImageData(
            ipb.DownloadImageDataRequest(image_id=image_id), metadata=cloud.admin
        ):
            f.write(piece.data)
    assert path.read_bytes()[:4] == b"QFI\xfb"  # qcow2
    raw = tmp_path / f"{image_id}.raw"
    subprocess.run(
        ["qemu-img", "convert", "-O", "raw", str(path), str(raw)], check=True, capture_output=True
    )
    return raw.read_bytes()


def _settled(servers, server_id):
    return servers.wait(
        server_id,
        lambda s: s.task_state == cpb.TASK_STATE_NONE,
        what="done with its snapshot",
    )


def test_a_snapshot_holds_the_disk_and_boots_a_new_server(
    controller, node, servers, image_id, images, cloud, tmp_path
):
    zone = zone_of(controller, node)
    server_id = servers.create(servers.flavor(), image_id, zone)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    _mark_disk(node, server_id)
    made = _snapshot(servers, server_id, servers.tenant.metadata, name="my-snap", purpose="test")
    assert made.server.task_state == cpb.TASK_STATE_IMAGE_SNAPSHOT
    assert _image(images, cloud, made.image_id).status in (
        ipb.IMAGE_STATUS_QUEUED,
        ipb.IMAGE_STATUS_SAVING,
        ipb.IMAGE_STATUS_ACTIVE,
    )
    after = _settled(servers, server_id)
    assert after.status == cpb.SERVER_STATUS_ACTIVE  # paused while copied, running again
    assert after.power_state == cpb.POWER_STATE_RUNNING
    image = _image(images, cloud, made.image_id)
    assert image.status == ipb.IMAGE_STATUS_ACTIVE
    assert (image.name, image.owner) == ("my-snap", servers.tenant.project_id)
    assert image.visibility == ipb.IMAGE_VISIBILITY_PRIVATE
    assert image.disk_format == ipb.DISK_FORMAT_QCOW2
    props = dict(image.properties)
    assert props["image_type"] == "snapshot"
    assert props["instance_uuid"] == server_id
    assert props["base_image_ref"] == image_id
    assert props["purpose"] == "test"
    data = _data(images, cloud, made.image_id, tmp_path)
    assert data[: 64 * 1024] == bytes([MARK]) * (64 * 1024)
    # A server booted from the snapshot starts from that disk.
    copy_id = servers.create(servers.flavor(), made.image_id, zone)
    servers.wait_status(copy_id, cpb.SERVER_STATUS_ACTIVE)
    copy_disk = os.path.join(node.directory, "instances", copy_id, "disk")
    raw = tmp_path / "copy.raw"
    subprocess.run(
        ["qemu-img", "convert", "-U", "-O", "raw", copy_disk, str(raw)],
        check=True,
        capture_output=True,
    )
    assert raw.read_bytes()[:4096] == bytes([MARK]) * 4096
    listed = servers.stub.ListServerActions(
        cpb.ListServerActionsRequest(server_id=server_id), metadata=cloud.admin
    ).actions
    assert [(a.action, a.result) for a in listed][-1] == ("create_image", cpb.ACTION_RESULT_SUCCESS)


def test_snapshots_refused_change_nothing(controller, node, servers, image_id, images, cloud):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    owner = servers.tenant
    before = _project_images(images, owner)
    stranger = cloud.tenant(role="member")
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
        _snapshot(servers, server_id, stranger.metadata)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="name"):
        _snapshot(servers, server_id, owner.metadata, name="")
    node.stop()
    servers.action("Stop", server_id)  # waits for the host: a task under way
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        _snapshot(servers, server_id, owner.metadata)
    node.start()
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)
    assert _project_images(images, owner) == before
    # From SHUTOFF it may: no pause needed, the guest stays off.
    made = _snapshot(servers, server_id, owner.metadata)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "INVALID_SERVER_STATE"):
        _snapshot(servers, server_id, owner.metadata)  # one at a time
    done = _settled(servers, server_id)
    assert done.status == cpb.SERVER_STATUS_SHUTOFF
    assert _image(images, cloud, made.image_id).status == ipb.IMAGE_STATUS_ACTIVE
    assert _project_images(images, owner) == sorted([*before, made.image_id])


def test_a_snapshot_the_node_cannot_take_leaves_a_killed_image(
    controller, node, servers, image_id, images, cloud
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    os.remove(os.path.join(node.directory, "instances", server_id, "disk"))  # the disk is lost
    made = _snapshot(servers, server_id, servers.tenant.metadata)
    after = _settled(servers, server_id)
    assert after.status == cpb.SERVER_STATUS_ACTIVE
    wait_until(
        lambda: _image(images, cloud, made.image_id).status == ipb.IMAGE_STATUS_KILLED,
        "the snapshot killed",
    )
    action = controller.app.db.call(
        lambda: InstanceAction.get(
            InstanceAction.instance_id == server_id, InstanceAction.action == "create_image"
        )
    )
    assert action.result == "error" and "no root disk" in action.message


def test_only_the_commanded_node_may_send_a_snapshot(controller, node, servers, image_id, cloud):
    """A node's upload must name a live snapshot command of its own for that image."""
    from stratus.node.v1 import node_service_pb2 as npb
    from stratus.node.v1 import node_service_pb2_grpc as npb_grpc

    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    made = _snapshot(servers, server_id, servers.tenant.metadata)
    _settled(servers, server_id)
    command = controller.app.db.call(
        lambda: NodeCommand.get(
            NodeCommand.instance_id == server_id, NodeCommand.kind == "snapshot"
        )
    )
    assert command.state == outbox.SUCCEEDED

    async def again():
        async def requests():
            header = npb.SnapshotHeader(command_id=command.id, image_id=made.image_id)
            yield npb.UploadSnapshotRequest(header=header)
            yield npb.UploadSnapshotRequest(data=b"x" * 1024)

        stub = npb_grpc.NodeServiceStub(node.channel())
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await stub.UploadSnapshot(requests())
        return exc.value.code()

    assert controller.run(again()) == grpc.StatusCode.NOT_FOUND
