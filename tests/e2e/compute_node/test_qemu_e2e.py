"""Real guests end to end, booted by a `stratus-compute` process on QEMU (software emulation
where KVM does not work): the tiny test guest (kernel, ramdisk and disk registered as images),
its marker read through the compute API's console output, then stopped, started and deleted;
and the demo image with a key pair and user data, which the guest reads from its config drive
and proves from inside on its console."""

import os
import shutil
import time

import libvirt
import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.image.v1 import image_service_pb2 as ipb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller, tear_down
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support import demo_guest, guest_image
from tests.support.cloud import Cloud

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the private libvirt daemon needs root"),
]
BOOT_TIMEOUT = 180


def console(servers, server_id) -> str:
    return servers.stub.GetConsoleOutput(
        cpb.GetConsoleOutputRequest(server_id=server_id), metadata=servers.cloud.admin
    ).output


def wait_for_marker(servers, server_id, marker) -> float:
    started = time.monotonic()
    deadline = started + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if marker in console(servers, server_id):
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(
        f"no {marker!r} on the console after {BOOT_TIMEOUT} s: "
        f"{console(servers, server_id)[-2000:]!r}"
    )


@pytest.fixture(scope="module")
def qemu_cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("qemu-e2e")
    image = guest_image.build(base / "guest")
    daemon = LibvirtDaemon(base / "libvirt", private_network=True).start()
    controller = Controller(base / "controller").start()
    cloud = Cloud(controller.address)
    node = None
    try:
        node = ComputeProcess(
            base / "node", "qemu-node.e2e.test", controller, cloud, uri=daemon.uri
        ).start(timeout=120)
        yield cloud, node, daemon, image
    finally:
        tear_down(node, controller, cloud, daemon)


def test_a_real_guest_through_the_agent_and_stream(qemu_cluster):
    cloud, node, daemon, image = qemu_cluster
    kernel = upload_image(
        cloud, image.kernel.read_bytes(), "aki", container_format=ipb.CONTAINER_FORMAT_AKI
    )
    ramdisk = upload_image(
        cloud, image.initrd.read_bytes(), "ari", container_format=ipb.CONTAINER_FORMAT_ARI
    )
    disk = upload_image(
        cloud,
        image.disk.read_bytes(),
        "qcow2",
        properties={"kernel_id": kernel, "ramdisk_id": ramdisk, "os_command_line": image.cmdline},
    )
    servers = Servers(cloud)
    flavor = servers.flavor(vcpus=1, ram_mb=192, disk_gb=1)

    created = time.monotonic()
    server_id = servers.create(flavor, disk)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, server_id, image.marker)
    print(f"\nreal guest: create to marker on the console {time.monotonic() - created:.1f} s")

    # The agent killed and started again: the guest never notices.
    node.kill()
    node.start(timeout=120)
    conn = libvirt.open(daemon.uri)
    try:
        assert conn.lookupByUUIDString(server_id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        conn.close()
    assert servers.get(server_id).status == cpb.SERVER_STATUS_ACTIVE
    assert image.marker in console(servers, server_id)

    servers.action("Stop", server_id)
    stopped = servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF, timeout=60)
    assert stopped.power_state == cpb.POWER_STATE_SHUTDOWN

    servers.action("Start", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=60)
    wait_for_marker(servers, server_id, image.marker)

    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=60)
    conn = libvirt.open(daemon.uri)
    try:
        assert conn.listAllDomains() == []
    finally:
        conn.close()
    instances = node.directory / "state" / "instances"
    assert not (instances / server_id).exists()


USER_DATA = b"""#!/bin/sh
# runs inside the guest: what it says comes from the guest itself
echo "user-data-ran on $(hostname) key $(cut -d' ' -f2 /root/.ssh/authorized_keys)"
"""


def test_the_demo_image_gets_its_key_pair_hostname_and_user_data(qemu_cluster):
    cloud, _node, _daemon, _image = qemu_cluster
    disk = upload_image(cloud, demo_guest.demo_image().read_bytes(), "qcow2")
    servers = Servers(cloud)
    key = servers.stub.CreateKeyPair(
        cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name="demo key")),
        metadata=servers.tenant.metadata,
    )
    flavor = servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)

    created = time.monotonic()
    server_id = servers.create(
        flavor, disk, name="Demo_One", key_name="demo key", user_data=USER_DATA
    )
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    wait_for_marker(servers, server_id, demo_guest.BANNER_END)
    print(f"\ndemo image: create to banner {time.monotonic() - created:.1f} s")
    wait_for_marker(servers, server_id, "stratus-demo: user data exited with status 0")

    text = console(servers, server_id).replace("\r", "")
    key_body = key.public_key.split()[1]
    assert "hostname: demo-one" in text
    assert f"instance: {server_id}" in text
    assert "authorized keys: 1" in text
    assert f"user-data-ran on demo-one key {key_body}" in text

    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=60)
