"""Two controller replicas (real processes) on one database, a compute node configured with
both: the replica holding the node's stream is killed (SIGKILL, by fault injection) in the
middle of a boot; the node fails over to the other replica and the boot completes exactly
once. On the run's database: SQLite, PostgreSQL or MariaDB.

The node's hypervisor is libvirt's test driver behind a private libvirt daemon, so the
domains it defined can be counted from outside the node."""

import os
import uuid

import grpc
import libvirt
import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, missing_tools
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.integration.replication.replicas import Replicas, shared_database
from tests.support.cloud import Cloud
from tests.support.sql import execute

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()),
    reason="needs root and libvirtd for a private libvirt daemon",
)
BOOT_DEADLINE = 180.0  # generous: the machine is shared


@pytest.fixture
def hypervisor(tmp_path):
    daemon = LibvirtDaemon(tmp_path / "libvirt", private_network=True)
    daemon.start()
    uri = f"test+unix:///default?socket={daemon.socket}"
    # The test driver forgets its domains when its last connection closes: this one keeps
    # them while the node's agent reconnects.
    keeper = libvirt.open(uri)
    yield uri
    keeper.close()
    daemon.stop(shutdown_timeout=0)


def _domains(uri: str) -> list[str]:
    conn = libvirt.open(uri)
    try:
        return [d.UUIDString() for d in conn.listAllDomains()]
    finally:
        conn.close()


@pytest.fixture
def cluster(database_server, tmp_path, hypervisor):
    """Replica 0 dies at the step the test names; replica 1 stays. One image store (a
    directory both reach, as a shared filesystem or an object store would be)."""
    url = shared_database(database_server, tmp_path)
    extra = Replicas(tmp_path, url).extra + (
        f'[image]\nstore = {{ backend = "file", directory = "{tmp_path / "images"}" }}\n'
    )
    replicas = [Controller(tmp_path / f"replica-{i}", extra, url) for i in range(2)]
    started, clouds, node = [], [], None

    def start(fault_at: str):
        nonlocal node
        for i, replica in enumerate(replicas):
            replica.start(env={"STRATUS_FAULT_AT": fault_at} if i == 0 else None)
            started.append(replica)
            clouds.append(Cloud(replica.address))
        node = ComputeProcess(
            tmp_path / "node",
            "failover.node.test",
            replicas[0],
            clouds[1],  # enrolled through the other replica: one CA
            uri=hypervisor,
            controllers=[r.node_address for r in replicas],
        ).start()
        return url, replicas, clouds, node

    yield start
    if node is not None and node.running():
        node.terminate()
    for cloud in clouds:
        cloud.close()
    for replica in started:
        replica.stop()


def _create(servers, flavor: str, image_id: str, name: str) -> grpc.StatusCode:
    try:
        servers.create(flavor, image_id, name=name)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


# claim.committed: the replica dies with the spawn command in the outbox, not yet sent: the
# other replica delivers it. result.received: it dies when the node reports the spawn done,
# before recording it: the node reports again to the other replica.
@pytest.mark.parametrize("fault_at", ["claim.committed", "result.received"])
def test_the_node_fails_over_and_the_boot_completes_once(cluster, hypervisor, fault_at):
    url, replicas, clouds, node = cluster(fault_at)
    servers = [Servers(cloud) for cloud in clouds]
    image_id = upload_image(clouds[0], b"\0" * (1 << 20), "raw")
    flavor = servers[0].flavor(ram_mb=128)
    name = f"failover-{uuid.uuid4().hex[:8]}"
    # The claim is made after the answer, but a slow machine may see the replica die first.
    assert _create(servers[0], flavor, image_id, name) in (
        grpc.StatusCode.OK,
        grpc.StatusCode.UNAVAILABLE,
    )
    replicas[0].process.proc.wait(BOOT_DEADLINE)  # killed at fault_at
    ((server_id,),) = execute(url, "SELECT id FROM instance WHERE name = ?", (name,))

    node.wait_log(r"opening the stream to the controller at " + replicas[1].node_address)
    server = servers[1].wait_status(server_id, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_DEADLINE)
    assert server.host == node.host
    assert _domains(hypervisor).count(server_id) == 1
    spawns = execute(
        url,
        "SELECT state FROM node_command WHERE instance_id = ? AND kind = ?",
        (server_id, "spawn"),
    )
    assert len(spawns) == 1, spawns
