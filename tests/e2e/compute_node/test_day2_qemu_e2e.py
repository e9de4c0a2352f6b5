"""Day-2 operations on real guests. A snapshot holds what the guest wrote: the demo image's user
data writes a marker file on its disk, the server is snapshotted while it runs, and a new
server booted from the snapshot reads the marker back on its console. A resize gives the
guest the new flavor's memory: its kernel says so on the console. Real processes: a
controller, a private libvirt daemon, one `stratus-compute` agent on QEMU (software
emulation), so resizes stay on the one host; a second agent, on its own libvirt daemon,
receives a cold migration, and the guest's data arrives intact."""

import os
import re
import shutil
import time
import uuid
from types import SimpleNamespace

import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller, tear_down
from tests.e2e.compute_node.test_qemu_e2e import BOOT_TIMEOUT, console, wait_for_marker
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support import demo_guest
from tests.support.cloud import Cloud

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the private libvirt daemon needs root"),
]

# The demo guest keeps its FAT partition (/mnt/boot) across reboots and images: what it
# writes there is on the disk the snapshot copies.
WRITE = """#!/bin/sh
echo "{marker}" > /mnt/boot/marker.txt
sync
echo "marker written"
"""
READ = """#!/bin/sh
echo "marker read: $(cat /mnt/boot/marker.txt)"
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("snapshot-e2e")
    daemon = LibvirtDaemon(base / "libvirt", private_network=True).start()
    controller = Controller(
        base / "controller", extra="[resize]\nallow_resize_to_same_host = true\n"
    ).start()
    cloud = Cloud(controller.address)
    node = None
    try:
        node = ComputeProcess(
            base / "node", "snapshot-node.e2e.test", controller, cloud, uri=daemon.uri
        ).start(timeout=120)
        yield SimpleNamespace(cloud=cloud, controller=controller, base=base)
    finally:
        tear_down(node, controller, cloud, daemon)


def test_a_server_booted_from_a_snapshot_has_the_guests_data(cluster):
    cloud = cluster.cloud
    servers = Servers(cloud)
    images = ipb_grpc.ImageServiceStub(cloud.channel)
    disk = upload_image(cloud, demo_guest.demo_image().read_bytes(), "qcow2")
    flavor = servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)
    marker = f"snapshot-marker-{uuid.uuid4()}"

    original = servers.create(flavor, disk, user_data=WRITE.format(marker=marker).encode())
    servers.wait_status(original, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, original, "stratus-demo: user data exited with status 0")

    started = time.monotonic()
    made = servers.stub.CreateServerImage(
        cpb.CreateServerImageRequest(server_id=original, name="demo-snapshot"),
        metadata=servers.tenant.metadata,
    )
    servers.wait(
        original,
        lambda s: s.task_state == cpb.TASK_STATE_NONE,
        timeout=BOOT_TIMEOUT,
        what="done with its snapshot",
    )
    image = images.GetImage(ipb.GetImageRequest(id=made.image_id), metadata=cloud.admin)
    print(f"\nsnapshot of a running demo guest: {time.monotonic() - started:.1f} s, {image.size} B")
    assert image.status == ipb.IMAGE_STATUS_ACTIVE
    assert servers.get(original).status == cpb.SERVER_STATUS_ACTIVE  # running again

    copy = servers.create(flavor, made.image_id, user_data=READ.encode())
    servers.wait_status(copy, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, copy, f"marker read: {marker}")
    for server_id in (original, copy):
        servers.delete(server_id)
        servers.wait_deleted(server_id, timeout=60)


# Says the RAM the guest has, at every boot: the demo image runs user data once per instance,
# unless the script forgets that it ran.
MEMORY = """#!/bin/sh
echo "guest memory: $(sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo) kB"
rm -f /mnt/boot/stratus-demo/user-data-ran
sync
"""
REPORTED = re.compile(r"guest memory: (\d+) kB")


def _memory(servers, server_id) -> list[int]:
    return [int(kb) for kb in REPORTED.findall(console(servers, server_id))]


def test_a_resized_guest_sees_its_new_memory(cluster):
    cloud = cluster.cloud
    servers = Servers(cloud)
    disk = upload_image(cloud, demo_guest.demo_image().read_bytes(), "qcow2")
    small = servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)
    big = servers.flavor(vcpus=1, ram_mb=512, disk_gb=2)
    server_id = servers.create(small, disk, user_data=MEMORY.encode())
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, server_id, "guest memory: ")
    (before,) = _memory(servers, server_id)

    started = time.monotonic()
    servers.stub.ResizeServer(
        cpb.ResizeServerRequest(id=server_id, flavor_id=big), metadata=servers.tenant.metadata
    )
    servers.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, server_id, "guest memory: ")  # the new guest's own console
    print(f"\nresize of a demo guest until it reports: {time.monotonic() - started:.1f} s")
    (after,) = _memory(servers, server_id)
    print(f"guest memory before {before} kB, after {after} kB")
    assert before < 256 * 1024 < after <= 512 * 1024, (before, after)
    servers.stub.ConfirmServerResize(
        cpb.ConfirmServerResizeRequest(id=server_id), metadata=servers.tenant.metadata
    )
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=60)
    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=60)


# Written once, read at every boot (the user data forgets it ran, as above).
KEEP_AND_READ = """#!/bin/sh
[ -f /mnt/boot/marker.txt ] || echo "{marker}" > /mnt/boot/marker.txt
sync
echo "marker read: $(cat /mnt/boot/marker.txt) on $(hostname)"
rm -f /mnt/boot/stratus-demo/user-data-ran
sync
"""


def test_a_cold_migration_carries_the_guests_data_to_another_host(cluster):
    cloud = cluster.cloud
    servers = Servers(cloud)
    disk = upload_image(cloud, demo_guest.demo_image().read_bytes(), "qcow2")
    flavor = servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)
    marker = f"migration-marker-{uuid.uuid4()}"
    server_id = servers.create(
        flavor, disk, name="mover", user_data=KEEP_AND_READ.format(marker=marker).encode()
    )
    first = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, server_id, f"marker read: {marker} on mover")
    daemon = LibvirtDaemon(cluster.base / "libvirt-2", private_network=True).start()
    node = None
    try:
        node = ComputeProcess(
            cluster.base / "node-2",
            "second-node.e2e.test",
            cluster.controller,
            cloud,
            uri=daemon.uri,
        ).start(timeout=120)
        started = time.monotonic()
        servers.action("Migrate", server_id)
        moved = servers.wait_status(
            server_id, cpb.SERVER_STATUS_VERIFY_RESIZE, timeout=BOOT_TIMEOUT
        )
        assert first.host != moved.host == "second-node.e2e.test"
        wait_for_marker(servers, server_id, f"marker read: {marker} on mover")
        print(
            f"\ncold migration of a demo guest until it reads its data: "
            f"{time.monotonic() - started:.1f} s"
        )
        servers.stub.ConfirmServerResize(
            cpb.ConfirmServerResizeRequest(id=server_id), metadata=cloud.admin
        )
        servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=60)
        servers.delete(server_id)
        servers.wait_deleted(server_id, timeout=60)
    finally:
        if node is not None and node.running():
            node.terminate()
        daemon.stop(shutdown_timeout=0)
