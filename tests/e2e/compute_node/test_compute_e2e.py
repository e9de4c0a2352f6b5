"""A controller and two `stratus-compute` processes, each node on libvirt's test driver
served by its own private libvirt daemon (so guests outlive the agent, as real ones do).
Each side is killed mid-work and started again; every server must end in the right state,
on exactly one host, with nothing left behind."""

import os
import sqlite3
import threading
import time

import libvirt
import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, missing_tools
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support.cloud import Cloud

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()),
    reason="needs root and libvirtd for private libvirt daemons",
)

SERVERS = 6


def start_all(items):
    errors = []

    def run(item):
        try:
            item.start()
        except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    daemons = [LibvirtDaemon(base / f"libvirt-{i}", private_network=True) for i in range(2)]
    start_all(daemons)
    # libvirt's test driver forgets its host when its last connection closes; a real
    # hypervisor does not. These connections keep each node's host while agents restart.
    keepers = [libvirt.open(hypervisor_uri(d)) for d in daemons]
    controller = Controller(base / "controller").start()
    cloud = Cloud(controller.address)
    nodes = [
        ComputeProcess(
            base / f"node-{i}", f"node-{i}.e2e.test", controller, cloud, uri=hypervisor_uri(d)
        )
        for i, d in enumerate(daemons)
    ]
    try:
        for node in nodes:
            node.start()
        yield controller, cloud, nodes, daemons
    finally:
        for node in nodes:
            if node.running():
                node.terminate()
        controller.stop()
        cloud.close()
        for keeper in keepers:
            keeper.close()
        for daemon in daemons:
            daemon.stop(shutdown_timeout=0)


def hypervisor_uri(daemon) -> str:
    return f"test+unix:///default?socket={daemon.socket}"


def domains(daemon) -> dict[str, int]:
    """uuid -> libvirt state of every domain the node's hypervisor has."""
    conn = libvirt.open(hypervisor_uri(daemon))
    try:
        return {d.UUIDString(): d.state()[0] for d in conn.listAllDomains()}
    finally:
        conn.close()


def live_commands(controller) -> int:
    db = sqlite3.connect(controller.directory / "stratus.db")
    try:
        return db.execute(
            "SELECT COUNT(*) FROM node_command WHERE state IN ('pending', 'delivered')"
        ).fetchone()[0]
    finally:
        db.close()


def cache_references(node, image_id) -> set[str]:
    refs = node.directory / "state" / "images" / image_id / "refs"
    return set(os.listdir(refs)) if refs.exists() else set()


def test_every_server_ends_right_when_each_side_is_killed_mid_work(cluster):
    controller, cloud, nodes, daemons = cluster
    servers = Servers(cloud)
    image_id = upload_image(cloud, b"\0" * (1 << 20), "raw")
    flavor = servers.flavor(ram_mb=256)

    # A node killed while its spawns are under way, then started again.
    created = [servers.create(flavor, image_id) for _ in range(SERVERS)]
    nodes[0].kill()
    nodes[0].start()
    for server_id in created:
        servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=120)

    # The controller killed between deciding (the task is recorded) and delivering.
    stopping = created[:3]
    for server_id in stopping:
        servers.action("Stop", server_id)
    controller.kill()
    controller.start()
    for server_id in stopping:
        servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF, timeout=120)

    # A node killed right after deletes were sent to it.
    deleted = created[3:5]
    for server_id in deleted:
        servers.delete(server_id)
    for node in nodes:
        node.kill()
        node.start()
    for server_id in deleted:
        servers.wait_deleted(server_id, timeout=120)

    # Every server where it should be, once, in the right power state; nothing left over.
    found = [domains(d) for d in daemons]
    for server_id in created:
        on = [i for i, doms in enumerate(found) if server_id in doms]
        if server_id in deleted:
            assert on == [], f"deleted server {server_id} still on nodes {on}"
            continue
        assert len(on) == 1, f"server {server_id} on nodes {on}"
        server = servers.get(server_id)
        assert server.host == nodes[on[0]].host
        expected = (
            libvirt.VIR_DOMAIN_SHUTOFF if server_id in stopping else libvirt.VIR_DOMAIN_RUNNING
        )
        assert found[on[0]][server_id] == expected
        assert cache_references(nodes[on[0]], image_id) >= {server_id}
    for i, node in enumerate(nodes):
        ours = {u for u in found[i] if u in created}
        assert cache_references(node, image_id) == ours
    deadline = time.monotonic() + 30
    while live_commands(controller) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_commands(controller) == 0


def test_sigterm_leaves_guests_running(cluster):
    _controller, cloud, nodes, daemons = cluster
    servers = Servers(cloud)
    image_id = upload_image(cloud, b"\0" * (1 << 20), "raw")
    server_id = servers.create(servers.flavor(ram_mb=128), image_id)
    active = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=120)
    # the addresses the node's hypervisor knows of (the test driver hands one out)
    [address] = active.addresses
    assert (address.network, address.version) == ("user", 4)
    assert address.address and address.mac_address
    node = next(n for n in nodes if n.host == active.host)
    daemon = daemons[nodes.index(node)]
    assert node.terminate() == 0
    assert "guests keep running" in node.log_path.read_text()
    assert domains(daemon)[server_id] == libvirt.VIR_DOMAIN_RUNNING
    node.start()
    servers.delete(server_id)
    servers.wait_deleted(server_id, timeout=60)
    assert server_id not in domains(daemon)
