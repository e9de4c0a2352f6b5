"""Real agents on libvirt's test driver against the in-process controller: the node stream
over mutual TLS, the conductor's outbox, results, reconciliation, timeouts and refusals."""

import asyncio
import datetime
import time
import uuid

import grpc
import pytest

from compute_node.agent import AGENT_VERSION
from compute_node.drivers.base import EventKind, LifecycleEvent, PowerState
from controller.compute.conductor import convert, nodes, outbox, workflow
from controller.compute.conductor.models import NodeCommand
from controller.compute.records import lifecycle, states
from controller.compute.records.models import ComputeNode, Instance, InstanceAction
from controller.db.queries import utcnow
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as pb_grpc
from tests.integration.compute_node.node_support import Node, put_in_zone
from tests.support.cloud import unique


def wait_until(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def zone_of(controller, node) -> str:
    """Each test's node gets its own availability zone, so servers land on it."""
    zone = unique("az")
    put_in_zone(controller, node, zone)
    return zone


def power_commands(controller, server_id) -> int:
    """Power commands ever written for the server."""
    return controller.app.db.call(
        lambda: (
            NodeCommand.select()
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "power")
            .count()
        )
    )


def row(controller, model, key):
    return controller.app.db.call(lambda: model.get_or_none(model._meta.primary_key == key))


def test_hello_registers_the_node_with_what_libvirt_reports(controller, node):
    record = row(controller, ComputeNode, node.node_id)
    assert record.hostname == node.host
    assert (record.vcpus, record.memory_mb) == (16, 32768)
    assert record.hypervisor_type == "test" and record.domain_type == "test"
    assert record.agent_version == AGENT_VERSION and record.connected
    assert nodes.is_up(record, utcnow(), 60)


def test_server_lifecycle_through_the_node(controller, node, servers, image_id):
    zone = zone_of(controller, node)
    server_id = servers.create(servers.flavor(), image_id, zone)
    active = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    assert active.power_state == cpb.POWER_STATE_RUNNING
    assert [(a.network, a.version) for a in active.addresses] == [("user", 4)]
    assert server_id in node.driver.list_instances()
    assert node.cache.references(image_id) == {server_id}

    for action, status, power in [
        ("Stop", cpb.SERVER_STATUS_SHUTOFF, cpb.POWER_STATE_SHUTDOWN),
        ("Start", cpb.SERVER_STATUS_ACTIVE, cpb.POWER_STATE_RUNNING),
        ("Pause", cpb.SERVER_STATUS_PAUSED, cpb.POWER_STATE_PAUSED),
        ("Unpause", cpb.SERVER_STATUS_ACTIVE, cpb.POWER_STATE_RUNNING),
        ("Suspend", cpb.SERVER_STATUS_SUSPENDED, cpb.POWER_STATE_SUSPENDED),
        ("Resume", cpb.SERVER_STATUS_ACTIVE, cpb.POWER_STATE_RUNNING),
        ("Reboot", cpb.SERVER_STATUS_ACTIVE, cpb.POWER_STATE_RUNNING),
    ]:
        servers.action(action, server_id)
        done = servers.wait_status(server_id, status)
        assert done.power_state == power, action

    console = servers.stub.GetConsoleOutput(
        cpb.GetConsoleOutputRequest(server_id=server_id), metadata=servers.cloud.admin
    )
    assert console.output == ""  # the test driver writes no serial log

    assert servers.get(server_id).addresses == active.addresses  # kept while stopped too

    servers.delete(server_id)
    servers.wait_deleted(server_id)
    assert server_id not in node.driver.list_instances()
    assert node.cache.references(image_id) == set()
    commands = controller.app.db.call(
        lambda: list(NodeCommand.select().where(NodeCommand.instance_id == server_id))
    )
    assert {c.state for c in commands} == {outbox.SUCCEEDED}
    assert [c.kind for c in commands].count("spawn") == 1


def test_a_guest_that_powers_itself_off_is_seen_as_stopped(controller, node, servers, image_id):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.driver.stop(server_id, timeout=0)  # behind the controller's back
    stopped = servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)
    assert stopped.power_state == cpb.POWER_STATE_SHUTDOWN


def test_commands_wait_for_a_down_node_then_run_after_it_reconnects(
    controller, node, servers, image_id
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.stop()
    servers.action("Stop", server_id)
    pending = controller.app.db.call(lambda: outbox.live_for_instance(server_id, "power"))
    assert len(pending) == 1  # waiting (or handed to the closing stream: sent again)
    assert node.driver.get_info(server_id).power_state.value == "RUNNING"  # guest untouched
    node.start()
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)


def test_a_command_for_a_down_node_times_out_into_a_fault(controller, node, servers, image_id):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.stop()
    servers.action("Pause", server_id)
    # Its limit passes (the row's deadline is moved, not the clock).
    controller.app.db.call(
        lambda: (
            NodeCommand.update(expires_at=utcnow() - datetime.timedelta(seconds=1))
            .where(NodeCommand.instance_id == server_id, NodeCommand.state.in_(outbox.LIVE))
            .execute()
        )
    )
    controller.run(controller.app.compute_conductor.sweep_once())
    server = servers.get(server_id)
    assert server.status == cpb.SERVER_STATUS_ACTIVE
    assert server.task_state == cpb.TASK_STATE_NONE
    command = controller.app.db.call(
        lambda: (
            NodeCommand.select()
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "power")
            .get()
        )
    )
    assert command.state == outbox.TIMED_OUT and "did not answer" in command.error_message
    action = controller.app.db.call(
        lambda: (
            InstanceAction.select()
            .where(InstanceAction.instance_id == server_id, InstanceAction.action == "pause")
            .get()
        )
    )
    assert action.result == "error" and "did not answer" in action.message
    node.start()  # the timed-out command is not delivered any more
    assert node.driver.get_info(server_id).power_state.value == "RUNNING"


def test_a_resent_command_is_answered_from_the_journal_not_run_again(
    controller, node, servers, image_id
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.stop()
    # As if the result of the spawn never reached the controller: it is resent on connect.
    controller.app.db.call(
        lambda: (
            NodeCommand.update(state=outbox.DELIVERED, result=None)
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
            .execute()
        )
    )
    node.driver.stop(server_id, timeout=0)  # a second boot would show as RUNNING again
    node.start()

    def answered():
        spawn = NodeCommand.get(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
        return spawn.state == outbox.SUCCEEDED and spawn.deliveries == 2

    wait_until(lambda: controller.app.db.call(answered), "the spawn answered again")
    assert node.driver.get_info(server_id).power_state.value == "SHUTOFF"
    assert list(node.driver.list_instances()).count(server_id) == 1


def test_reconciliation_on_hello(controller, node, servers, image_id, tmp_path):
    zone = zone_of(controller, node)
    kept = servers.create(servers.flavor(), image_id, zone)
    lost = servers.create(servers.flavor(), image_id, zone)
    for server_id in (kept, lost):
        servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    node.stop()
    node.driver.destroy(lost)  # the node lost it while disconnected
    node.driver.stop(kept, timeout=0)  # and this one powered off
    stranger = node.driver.host.conn.defineXML(
        f"<domain type='test'><name>{unique('foreign')}</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    node.start()
    errored = servers.wait_status(lost, cpb.SERVER_STATUS_ERROR)
    assert "not found on host" in errored.fault.message
    assert servers.wait_status(kept, cpb.SERVER_STATUS_SHUTOFF)
    record = row(controller, ComputeNode, node.node_id)
    assert [d["uuid"] for d in record.unknown_domains] == [stranger.UUIDString()]
    assert stranger.UUIDString() in node.driver.list_instances()  # reported, not destroyed
    stranger.undefine()


def test_addresses_learned_after_the_spawn_show_at_the_next_hello(
    controller, node, servers, image_id
):
    """A lease that came after the spawn result (here: the server's addresses forgotten)
    is taken from the inventory the node sends when it connects again."""
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    known = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE).addresses
    assert known
    controller.app.db.call(
        lambda: Instance.update(addresses={}).where(Instance.id == server_id).execute()
    )
    assert not servers.get(server_id).addresses
    node.stop()
    node.start()
    wait_until(lambda: servers.get(server_id).addresses == known, "addresses back")


def test_a_failed_spawn_is_cleaned_up_and_rescheduled(controller, tmp_path, servers, image_id):
    # The bigger host is tried first (the RAM weigher spreads); its spawns fail for real:
    # its instance directory is a file.
    broken = Node(controller, tmp_path / "broken", memory_mb=262144).start()
    healthy = Node(controller, tmp_path / "healthy", memory_mb=16384).start()
    try:
        zone = zone_of(controller, broken)
        put_in_zone(controller, healthy, zone)
        instances = tmp_path / "broken" / "instances"
        instances.rmdir()
        instances.write_text("not a directory")
        server_id = servers.create(servers.flavor(), image_id, zone)
        active = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
        assert active.host == healthy.host
        assert server_id in healthy.driver.list_instances()
        assert server_id not in broken.driver.list_instances()
        assert broken.cache.references(image_id) == set()  # released after the failure
        spawns = controller.app.db.call(
            lambda: [
                (c.node_id, c.state, c.error_code)
                for c in NodeCommand.select()
                .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
                .order_by(NodeCommand.seq)
            ]
        )
        assert spawns == [
            (broken.node_id, outbox.FAILED, "HYPERVISOR_ERROR"),
            (healthy.node_id, outbox.SUCCEEDED, None),
        ]
    finally:
        broken.close()
        healthy.close()


async def _raw_stream(channel, messages):
    stub = pb_grpc.NodeServiceStub(channel)
    call = stub.Connect(iter(messages))
    return [m async for m in call]


def test_a_node_claiming_another_host_name_is_refused(controller, node):
    hello = pb.ConnectRequest(hello=pb.Hello(host_name="someone-else.example"))

    async def attempt():
        async with node.channel() as channel:
            return await _raw_stream(channel, [hello])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(attempt())
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_first_message_must_be_a_hello(controller, node):
    async def attempt():
        async with node.channel() as channel:
            return await _raw_stream(channel, [pb.ConnectRequest(heartbeat=pb.Heartbeat())])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(attempt())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_oversized_message_is_refused(controller, node):
    huge = pb.ConnectRequest(
        hello=pb.Hello(host_name=node.host, agent_version="x" * (5 * 1024 * 1024))
    )

    async def attempt():
        async with node.channel() as channel:
            return await _raw_stream(channel, [huge])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(attempt())
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    record = row(controller, ComputeNode, node.node_id)
    assert record.agent_version == AGENT_VERSION  # nothing was recorded from it


def test_images_are_served_only_to_nodes_that_need_them(controller, node, image_id):
    async def fetch():
        async with node.channel() as channel:
            stub = pb_grpc.NodeServiceStub(channel)
            return [c async for c in stub.FetchImage(pb.FetchImageRequest(image_id=image_id))]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(fetch())
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_node_without_heartbeats_is_down(controller, node):
    record = row(controller, ComputeNode, node.node_id)
    later = record.heartbeat_at + datetime.timedelta(seconds=61)
    assert nodes.host_status(record, later, 60) == nodes.DOWN
    assert nodes.host_status(record, record.heartbeat_at, 60) == nodes.UP


def test_a_task_recorded_without_its_command_gets_one_from_the_sweep(
    controller, node, servers, image_id
):
    """A controller that stopped between recording a stop and writing its command."""
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    db = controller.app.db

    def record_task_only():
        with db.write_transaction():
            lifecycle.change(server_id, task_state=states.POWERING_OFF)
            Instance.update(updated_at=utcnow() - datetime.timedelta(minutes=5)).where(
                Instance.id == server_id
            ).execute()

    db.call(record_task_only)
    controller.run(controller.app.compute_conductor.sweep_once())
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)
    controller.run(controller.app.compute_conductor.sweep_once())  # nothing more to do
    assert power_commands(controller, server_id) == 1


def test_a_repeated_or_unknown_result_changes_nothing(controller, node, servers, image_id):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    before = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    spawn = controller.app.db.call(
        lambda: NodeCommand.get(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
    )
    conductor = controller.app.compute_conductor
    for command_id in (spawn.id, str(uuid.uuid4())):
        late = convert.result(
            pb.CommandResult(
                command_id=command_id,
                status=pb.COMMAND_STATUS_FAILED,
                error_code="HYPERVISOR_ERROR",
            )
        )
        controller.run(conductor.on_result(node.node_id, late))
    after = servers.get(server_id)
    assert after.status == cpb.SERVER_STATUS_ACTIVE and after.revision == before.revision
    assert controller.app.db.call(lambda: outbox.get(spawn.id).state) == outbox.SUCCEEDED


def test_a_lifecycle_event_delivered_after_the_result_does_not_undo_it(
    controller, node, servers, image_id, monkeypatch
):
    """libvirt queues a spawn's DEFINED event (domain not yet started) and may hand it over
    after the spawn's result went out: the event must not make the running server stopped."""
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    before = servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    applied = []
    apply_event = workflow.apply_event

    def seen(node_id, instance_id, power_state):
        applied.append((instance_id, power_state))
        return apply_event(node_id, instance_id, power_state)

    monkeypatch.setattr(workflow, "apply_event", seen)
    node.agent._events.offer(
        LifecycleEvent(uuid=server_id, kind=EventKind.DEFINED, power_state=PowerState.SHUTOFF)
    )
    wait_until(lambda: any(i == server_id for i, _ in applied), "the late event applied")
    after = servers.get(server_id)
    assert after.status == cpb.SERVER_STATUS_ACTIVE
    assert after.power_state == cpb.POWER_STATE_RUNNING and after.revision == before.revision


def test_the_agent_opens_a_new_stream_on_request_and_guests_stay(
    controller, node, servers, image_id
):
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    sessions = node.agent.sessions
    asyncio.run_coroutine_threadsafe(node.agent.reconnect(), node._loop).result(10)
    wait_until(
        lambda: node.agent.sessions > sessions and node.agent.connected.is_set(), "connected again"
    )
    assert node.driver.get_info(server_id).power_state.value == "RUNNING"
    servers.action("Stop", server_id)
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)


def test_a_malformed_message_ends_the_stream_and_records_nothing(controller, node):
    before = row(controller, ComputeNode, node.node_id)

    async def attempt():
        async with node.channel() as channel:
            connect = channel.stream_stream(
                "/stratus.node.v1.NodeService/Connect",
                request_serializer=lambda raw: raw,
                response_deserializer=lambda raw: raw,
            )
            return [m async for m in connect(iter([b"\xff\xff\xff\xff"]))]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        asyncio.run(attempt())
    assert refused.value.code() not in (grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN)
    after = row(controller, ComputeNode, node.node_id)
    assert (after.session_id, after.agent_version) == (before.session_id, before.agent_version)


def test_a_command_written_by_another_replica_reaches_the_node(controller, node, servers, image_id):
    """Written straight to the outbox, as another replica would, with no wake in this
    process: the conductor's outbox watch finds it and the node runs it, once."""
    server_id = servers.create(servers.flavor(), image_id, zone_of(controller, node))
    servers.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    conductor = controller.app.compute_conductor
    db = controller.app.db

    def stop_elsewhere():
        with db.write_transaction():
            lifecycle.change(server_id, task_state=states.POWERING_OFF)
            return workflow.ensure_action(
                db, conductor.settings, server_id, states.ACTIONS["stop"], "elsewhere"
            )

    assert db.call(stop_elsewhere) is not None
    servers.wait_status(server_id, cpb.SERVER_STATUS_SHUTOFF)
    assert power_commands(controller, server_id) == 1


def test_a_node_taken_over_by_another_replica_loses_its_stream_here(controller, node):
    """Another replica's session for this node is recorded, with nothing to wake this
    process's stream (which no longer polls): its next heartbeat finds it and it ends."""
    conductor = controller.app.compute_conductor
    assert node.node_id in conductor.sessions
    db = controller.app.db
    db.call(
        lambda: (
            ComputeNode.update(session_id=str(uuid.uuid4()), session_owner="another-replica")
            .where(ComputeNode.id == node.node_id)
            .execute()
        )
    )
    wait_until(lambda: node.node_id not in conductor.sessions, "the stream ended", timeout=60)
