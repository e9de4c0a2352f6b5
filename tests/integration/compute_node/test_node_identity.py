"""One host identity, one stream: a second agent with a host's name and certificate (a copy
of the agent, a cloned host) is refused while the host's session is live and exits; its
inventory never faults a server; the real host's next hello repairs what a wrong inventory
changed; a session that is dead (its stream ended, its replica gone, its heartbeats stopped)
is replaced."""

import asyncio
import datetime
import uuid

import grpc
import pytest

from compute_node.agent import Agent, AgentSettings, HostIdentityInUse
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.executor import Executor
from compute_node.image_cache import ImageCache
from compute_node.journal import Journal
from controller.compute.conductor import workflow
from controller.compute.records import states
from controller.compute.records.models import ComputeNode, Instance
from controller.db.queries import utcnow
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as pb_grpc
from tests.integration.compute_node.node_support import NODE_XML, Node
from tests.integration.compute_node.test_node_stream import row, zone_of
from tests.support.errors import reason_of


@pytest.fixture
def active(controller, node, servers, image_id):
    """A server running on `node`."""
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    return server_id


def copy_of(node: Node, directory) -> tuple[Agent, LibvirtDriver, Journal]:
    """An agent with `node`'s host name and certificate on a hypervisor without its guests:
    a second stratus-compute with the same identity."""
    directory.mkdir()
    (directory / "node.xml").write_text(NODE_XML.format(vcpus=16, kib=32768 * 1024))
    cache = ImageCache(str(directory / "images"))
    driver = LibvirtDriver(
        LibvirtConfig(
            uri=f"test://{directory / 'node.xml'}", instances_path=str(directory / "instances")
        ),
        cache,
    )
    journal = Journal(str(directory / "journal.db"), boot_id=str(uuid.uuid4()))
    agent = Agent(
        AgentSettings(
            host_name=node.host, backoff_initial=0.1, backoff_max=0.2, identity_retry=0.2
        ),
        driver,
        Executor(driver, cache, journal),
        node.channel,
    )
    return agent, driver, journal


def empty_hello(node: Node) -> pb.ConnectRequest:
    return pb.ConnectRequest(hello=pb.Hello(host_name=node.host, agent_version="copy"))


async def hello_once(node: Node) -> pb.ConnectResponse:
    """A hello with no guests on `node`'s identity; the first answer, then the stream ends."""
    async with node.channel() as channel:
        call = pb_grpc.NodeServiceStub(channel).Connect(iter([empty_hello(node)]))
        first = await call.read()
        call.cancel()
        return first


def test_a_copy_of_a_connected_agent_is_refused_and_exits(
    controller, node, active, tmp_path, servers
):
    held = row(controller, ComputeNode, node.node_id).session_id
    agent, driver, journal = copy_of(node, tmp_path / "copy")

    async def run_copy():
        await asyncio.wait_for(agent.run(asyncio.Event()), 30)

    try:
        with pytest.raises(HostIdentityInUse) as refused:
            asyncio.run(run_copy())
    finally:
        driver.close()
        journal.close()
    assert "already connected" in str(refused.value)
    assert agent.sessions == 0  # never welcomed, not a reconnect loop
    assert row(controller, ComputeNode, node.node_id).session_id == held
    assert node.agent.sessions == 1 and node.agent.connected.is_set()
    assert servers.get(active).status == cpb.SERVER_STATUS_ACTIVE


def test_a_second_hello_is_refused_with_its_reason_and_changes_nothing(
    controller, node, active, servers
):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(hello_once(node))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(refused.value.trailing_metadata()) == "NODE_SESSION_ACTIVE"
    assert row(controller, ComputeNode, node.node_id).agent_version != "copy"
    assert servers.get(active).status == cpb.SERVER_STATUS_ACTIVE


def test_an_inventory_from_a_session_that_does_not_hold_the_host_faults_nothing(
    controller, node, active, servers
):
    conductor = controller.app.compute_conductor
    outcome = controller.run(conductor.txn(workflow.reconcile, node.node_id, str(uuid.uuid4()), []))
    assert outcome.lost == []
    assert servers.get(active).status == cpb.SERVER_STATUS_ACTIVE


def test_the_hosts_next_hello_repairs_servers_a_wrong_inventory_lost(
    controller, node, active, servers
):
    conductor = controller.app.compute_conductor
    node.stop()

    def lose(db, settings):  # what an empty inventory from a copy of the agent did
        workflow.fault(
            active, f"instance not found on host {node.host}", power_state=states.NOSTATE
        )

    controller.run(conductor.txn(lose))
    assert servers.get(active).status == cpb.SERVER_STATUS_ERROR
    node.start()
    repaired = servers.wait_status(active, cpb.SERVER_STATUS_ACTIVE)
    assert not repaired.fault.message
    record = row(controller, Instance, active)
    assert (record.vm_state, record.power_state) == (states.ACTIVE, states.RUNNING)


def test_other_errors_are_not_undone_by_a_hello(controller, node, active, servers):
    conductor = controller.app.compute_conductor
    node.stop()
    controller.run(conductor.txn(lambda db, s: workflow.fault(active, "delete failed")))
    node.start()
    assert servers.get(active).status == cpb.SERVER_STATUS_ERROR


def _pretend_held(controller, node, owner: str, heartbeat_age: float) -> None:
    """The node's row as a session that never closed leaves it."""
    beat = utcnow() - datetime.timedelta(seconds=heartbeat_age)
    controller.app.db.call(
        lambda: (
            ComputeNode.update(
                connected=True, session_id=str(uuid.uuid4()), session_owner=owner, heartbeat_at=beat
            )
            .where(ComputeNode.id == node.node_id)
            .execute()
        )
    )


@pytest.mark.parametrize(
    "owner, heartbeat_age",
    [
        ("this", 0),  # its stream ended here, unrecorded
        ("gone", 0),  # its controller process ended
        ("elsewhere", 120),  # silent for more than service_down_time
    ],
    ids=["stream-closed-here", "replica-gone", "heartbeats-stopped"],
)
def test_a_dead_session_is_replaced(controller, node, owner, heartbeat_age):
    conductor = controller.app.compute_conductor
    owners = {
        "this": conductor.owner,
        "gone": conductor.owner.split(":")[0] + ":999999999:1:x",
        "elsewhere": "another-controller.example:1:1:x",
    }
    node.stop()
    _pretend_held(controller, node, owners[owner], heartbeat_age)
    first = asyncio.run(hello_once(node))
    assert first.WhichOneof("body") == "welcome"


def test_a_live_session_on_another_replica_holds_the_host(controller, node):
    node.stop()
    _pretend_held(controller, node, "another-controller.example:1:1:x", 0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(hello_once(node))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
