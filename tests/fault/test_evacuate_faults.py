"""kill -9 of the controller and of the destination's agent at each step of an evacuation,
then the killed process started again, then the dead host back: the server runs on exactly
one host with one claim, and the dead host's old copy is destroyed, not run."""

import sqlite3
import time
import uuid

import libvirt
import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.fault.cluster import SETTLE, retrying
from tests.fault.conftest import needs_daemons
from tests.fault.test_resize_faults import healthy_again
from tests.support.cloud import unique

pytestmark = needs_daemons

CONTROLLER = ["claim.before", "claim.committed", "image.serving", "result.received"]
# Steps after which the spawn completes on the same host (earlier ones are rescheduled, and
# with the only other host dead, end in ERROR: no valid host).
DESTINATION_AGENT = ["command.received", "domain.started", "result.recorded"]


def _force_down(cluster, node, down: bool) -> None:
    """What an operator's `compute service set --down` records (no API for it yet)."""
    db = sqlite3.connect(cluster.database_url[len("sqlite:///") :])
    try:
        db.execute("UPDATE compute_node SET forced_down = ? WHERE hostname = ?", (down, node.host))
        db.commit()
    finally:
        db.close()


@pytest.fixture
def evacuating(healthy):
    """A server on the first host, which then dies (killed, forced down and disabled)."""
    cluster = healthy
    dead, alive = cluster.nodes
    cluster.only(dead)
    request = cpb.CreateServerRequest(
        request_id=str(uuid.uuid4()),
        server=cpb.Server(
            # an image the other host has not cached: its spawn fetches it
            name=unique("evacuated"),
            flavor_id=cluster.flavor,
            image_id=cluster.fresh_image(),
        ),
    )
    server_id = retrying(
        lambda: cluster.servers.stub.CreateServer(request, metadata=cluster.servers.tenant.metadata)
    ).id
    cluster.settle([server_id])
    cluster.enable_all()
    dead.kill()
    _force_down(cluster, dead, True)
    cluster._service("Disable", dead, reason="dead")
    yield cluster, server_id, dead, alive
    healthy_again(cluster)
    _force_down(cluster, dead, False)
    cluster.enable_all()
    retrying(
        lambda: cluster.servers.stub.DeleteServer(
            cpb.DeleteServerRequest(id=server_id), metadata=cluster.cloud.admin
        )
    )
    deadline = time.monotonic() + SETTLE
    while cluster.get(server_id) is not None:
        assert time.monotonic() < deadline, f"server {server_id} not deleted"
        time.sleep(0.2)


def _evacuate(cluster, server_id: str) -> None:
    retrying(
        lambda: cluster.servers.stub.EvacuateServer(
            cpb.EvacuateServerRequest(id=server_id), metadata=cluster.cloud.admin
        )
    )


def _returns_and_check(cluster, server_id: str, dead, alive) -> None:
    cluster.settle([server_id])
    assert cluster.get(server_id).host == alive.host
    _force_down(cluster, dead, False)
    cluster.enable_all()
    dead.start()
    deadline = time.monotonic() + SETTLE
    dead_index = cluster.nodes.index(dead)
    while server_id in cluster.events[dead_index].domains():
        assert time.monotonic() < deadline, "the dead host's old copy was not destroyed"
        time.sleep(0.2)
    found = [events.domains() for events in cluster.events]
    on = [cluster.nodes[i].host for i, domains in enumerate(found) if server_id in domains]
    assert on == [alive.host], on
    assert found[cluster.nodes.index(alive)][server_id] == libvirt.VIR_DOMAIN_RUNNING
    [(node_id,)] = cluster.query(f"SELECT id FROM compute_node WHERE hostname = '{alive.host}'")
    claims = cluster.query(f"SELECT node_id FROM allocation WHERE instance_id = '{server_id}'")
    assert claims == [(node_id,)]
    cleanup = f"SELECT * FROM host_cleanup WHERE instance_id = '{server_id}'"
    while cluster.query(cleanup):  # forgotten once the destroy's result is applied
        assert time.monotonic() < deadline, cluster.query(cleanup)
        time.sleep(0.2)
    server = cluster.get(server_id)
    assert (server.status, server.host) == (cpb.SERVER_STATUS_ACTIVE, alive.host)


@pytest.mark.parametrize("step", CONTROLLER)
def test_controller_killed_during_an_evacuation(evacuating, step):
    cluster, server_id, dead, alive = evacuating
    cluster.arm(cluster.controller, step)
    _evacuate(cluster, server_id)
    cluster.wait_fault(cluster.controller, step)
    cluster.revive(cluster.controller)
    _returns_and_check(cluster, server_id, dead, alive)


@pytest.mark.parametrize("step", DESTINATION_AGENT)
def test_destination_agent_killed_during_an_evacuation(evacuating, step):
    cluster, server_id, dead, alive = evacuating
    cluster.arm(alive, step)
    _evacuate(cluster, server_id)
    cluster.wait_fault(alive, step)
    cluster.revive(alive)
    _returns_and_check(cluster, server_id, dead, alive)
