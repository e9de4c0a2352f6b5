"""kill -9 of the controller and of the source's agent at each step of a resize and of a cold
migration (the same steps), then the killed process started again: the resize ends
(VERIFY_RESIZE, then confirmed) or is rolled back, and afterwards the server runs on exactly
one host, holds exactly one claim, and no transfer image is left half made and active."""

import time
import uuid

import libvirt
import pytest

from controller.image.models import Image, ImageProperty
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.fault.cluster import IDLE, SETTLE, retrying
from tests.fault.conftest import needs_daemons
from tests.support.cloud import unique

pytestmark = needs_daemons

CONTROLLER = ["result.received", "result.applied", "image.serving"]
SOURCE_AGENT = [
    "command.received",
    "command.started",
    "resize.disk_copied",
    "snapshot.uploading",
    "resize.disk_sent",
    "result.recorded",
]
ENDS = (
    cpb.SERVER_STATUS_VERIFY_RESIZE,
    cpb.SERVER_STATUS_ACTIVE,
    cpb.SERVER_STATUS_SHUTOFF,
)


def _move(cluster, server_id: str, flavor_id: str, operation: str) -> None:
    """A resize to `flavor_id`, or a cold migration (the same steps, the same flavor)."""
    if operation == "resize":
        call = lambda: cluster.servers.stub.ResizeServer(  # noqa: E731
            cpb.ResizeServerRequest(id=server_id, flavor_id=flavor_id),
            metadata=cluster.servers.tenant.metadata,
        )
    else:
        call = lambda: cluster.servers.stub.MigrateServer(  # noqa: E731
            cpb.MigrateServerRequest(id=server_id), metadata=cluster.cloud.admin
        )
    retrying(call)


def _ended(cluster, server_id: str) -> cpb.Server:
    deadline = time.monotonic() + SETTLE
    while True:
        server = cluster.get(server_id)
        if server.task_state in IDLE and server.status in ENDS:
            return server
        assert time.monotonic() < deadline, f"resize of {server_id} never ended: {server}"
        time.sleep(0.2)


def _finish(cluster, server_id: str) -> cpb.Server:
    """Confirms a resize that got through; the server as it then is."""
    server = _ended(cluster, server_id)
    if server.status == cpb.SERVER_STATUS_VERIFY_RESIZE:
        retrying(
            lambda: cluster.servers.stub.ConfirmServerResize(
                cpb.ConfirmServerResizeRequest(id=server_id), metadata=cluster.cloud.admin
            )
        )
        server = _ended(cluster, server_id)
    return server


def _check(cluster, server_id: str, server: cpb.Server) -> None:
    found = [events.domains() for events in cluster.events]
    on = [cluster.nodes[i].host for i, domains in enumerate(found) if server_id in domains]
    assert on == [server.host], f"server {server_id} defined on {on}, placed on {server.host}"
    state = next(d[server_id] for d in found if server_id in d)
    running = server.status == cpb.SERVER_STATUS_ACTIVE
    assert (state == libvirt.VIR_DOMAIN_RUNNING) == running, (server.status, state)
    [(node_id,)] = cluster.query(f"SELECT id FROM compute_node WHERE hostname = '{server.host}'")
    migrations = [
        m for (m,) in cluster.query(f"SELECT id FROM migration WHERE instance_id = '{server_id}'")
    ]
    claims = cluster.query(
        "SELECT instance_id, node_id FROM allocation WHERE instance_id IN ("
        + ", ".join(f"'{i}'" for i in [server_id, *migrations])
        + ")"
    )
    assert claims == [(server_id, node_id)], f"claims {claims}"
    transfers = cluster.query(
        f"SELECT i.status FROM {Image._meta.table_name} i "
        f"JOIN {ImageProperty._meta.table_name} p ON p.image_id = i.id "
        f"WHERE p.name = 'instance_uuid' AND p.value = '{server_id}'"
    )
    assert "active" not in {status for (status,) in transfers}, transfers
    live = cluster.query(
        "SELECT id, kind FROM node_command WHERE state IN ('pending', 'delivered') "
        f"AND instance_id = '{server_id}'"
    )
    assert live == []


@pytest.fixture
def resizing(healthy):
    """A running server and a bigger flavor: the resize goes to the other host. The server
    is not the cluster's (`Cluster.check` counts one start per server: a resize starts it
    again) and is gone afterwards."""
    cluster = healthy
    request = cpb.CreateServerRequest(
        request_id=str(uuid.uuid4()),
        server=cpb.Server(
            name=unique("resized"), flavor_id=cluster.flavor, image_id=cluster.image_id
        ),
    )
    server_id = retrying(
        lambda: cluster.servers.stub.CreateServer(request, metadata=cluster.servers.tenant.metadata)
    ).id
    cluster.settle([server_id])
    yield cluster, server_id, cluster.servers.flavor(ram_mb=256)
    healthy_again(cluster)
    retrying(
        lambda: cluster.servers.stub.DeleteServer(
            cpb.DeleteServerRequest(id=server_id), metadata=cluster.cloud.admin
        )
    )
    deadline = time.monotonic() + SETTLE
    while cluster.get(server_id) is not None:
        assert time.monotonic() < deadline, f"server {server_id} not deleted"
        time.sleep(0.2)


def healthy_again(cluster) -> None:
    if not cluster.controller.process.proc or cluster.controller.process.proc.poll() is not None:
        cluster.controller.start()
    for node in cluster.nodes:
        if not node.running():
            node.start()


@pytest.mark.parametrize("operation", ["resize", "migration"])
@pytest.mark.parametrize("step", SOURCE_AGENT)
def test_source_agent_killed_during_a_resize(resizing, step, operation):
    cluster, server_id, bigger = resizing
    source = cluster.node_of(server_id)
    cluster.arm(source, step)
    _move(cluster, server_id, bigger, operation)
    cluster.wait_fault(source, step)
    cluster.revive(source)
    _check(cluster, server_id, _finish(cluster, server_id))


@pytest.mark.parametrize("operation", ["resize", "migration"])
@pytest.mark.parametrize("step", CONTROLLER)
def test_controller_killed_during_a_resize(resizing, step, operation):
    cluster, server_id, bigger = resizing
    cluster.arm(cluster.controller, step)
    _move(cluster, server_id, bigger, operation)
    cluster.wait_fault(cluster.controller, step)
    cluster.revive(cluster.controller)
    _check(cluster, server_id, _finish(cluster, server_id))
