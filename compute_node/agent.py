"""The node agent's stream loop: one Connect stream to the controller, kept open.

Hello (hardware and full inventory) first; then heartbeats every report interval, lifecycle
events as libvirt delivers them, and command results, while commands arrive. When the
stream breaks the agent reconnects with exponential backoff and full jitter; guests keep
running meanwhile, and the next hello carries the full inventory again. Queues are bounded:
events that do not fit are counted and replaced by a full inventory.

libvirt hands events over late (a spawn's DEFINED event, queued before the guest started,
may come after the spawn's result went out), so an event is sent with the power state the
guest has when it is sent, read while no command of that instance runs: never older than a
result already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import grpc
from google.rpc import error_details_pb2, status_pb2

from compute_node import convert, convert_network
from compute_node.backoff import Backoff
from compute_node.drivers.base import (
    ComputeDriver,
    EventSubscription,
    InstanceNotFound,
    LifecycleEvent,
    PowerState,
)
from compute_node.executor import Executor
from compute_node.image_fetch import NotConnected
from compute_node.network.model import StatusReport
from compute_node.network.wiring import WiringLoop
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as pb_grpc

LOG = logging.getLogger(__name__)
AGENT_VERSION = "0.1.0"


@dataclass(frozen=True)
class AgentSettings:
    host_name: str
    availability_zone: str = "nova"
    send_queue_size: int = 256
    event_queue_size: int = 1000
    welcome_timeout: float = 30.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    # Refused at start because another session holds this host: one more try after this long
    # (the controller may not have seen yet that this host's previous agent was killed).
    identity_retry: float = 5.0
    max_message_bytes: int = 4 * 1024 * 1024
    tunnel_ip: str = ""  # [network] tunnel_ip, told in the hello
    physical_networks: tuple[str, ...] = ()  # [network] physical_network_mappings' names


class HostIdentityInUse(Exception):
    """The controller refused this agent twice: another agent with this host's name and
    certificate holds the host's session (a copy of the agent, or a cloned host)."""


def identity_refusal(exc: grpc.aio.AioRpcError) -> float | None:
    """When the controller refused the stream because another session holds this host
    (reason NODE_SESSION_ACTIVE): the seconds after which that session, if it is dead, is
    released. None for any other error."""
    if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
        return None
    for key, value in exc.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.reason == "NODE_SESSION_ACTIVE":
                return float(info.metadata.get("retry_after_seconds", "1"))
    return None


class Agent:
    """`channel_factory()` returns a new grpc.aio channel to the node listener (mTLS)."""

    def __init__(
        self,
        settings: AgentSettings,
        driver: ComputeDriver,
        executor: Executor,
        channel_factory: Callable[[], grpc.aio.Channel],
        network: WiringLoop | None = None,
    ):
        """`network`: applies the controller's NetworkState; None on a node that wires no
        networks (the state is then ignored)."""
        self.settings = settings
        self.network = network
        self.driver = driver
        self.executor = executor
        self.channel_factory = channel_factory
        self._call = None
        self._stub = None  # the current session's, while it is welcomed
        self.backoff = Backoff(settings.backoff_initial, settings.backoff_max)
        self.node_id: str | None = None
        self.connected = asyncio.Event()
        self.sessions = 0
        self._outgoing: asyncio.Queue | None = None
        self._events: EventSubscription | None = None
        self._commands: set[asyncio.Task] = set()  # referenced so none is collected mid-run

    async def run(self, stop: asyncio.Event) -> None:
        self._events = EventSubscription(asyncio.get_running_loop(), self.settings.event_queue_size)
        self.driver.subscribe(self._events)
        refused = False
        wiring = (
            asyncio.ensure_future(self.network.run(self._send_port_status))
            if self.network
            else None
        )
        try:
            while not stop.is_set():
                delay = None
                try:
                    await self._session(stop)
                except asyncio.CancelledError:
                    raise
                except grpc.aio.AioRpcError as exc:
                    delay = identity_refusal(exc)
                    if delay is not None and refused:
                        raise HostIdentityInUse(exc.details()) from None  # the other is alive
                    LOG.warning(
                        "stream to the controller ended: %s %s", exc.code().name, exc.details()
                    )
                except Exception:
                    LOG.exception("stream to the controller failed")
                # Refused once: the session that holds the host may be a dead one of ours (a
                # stream that died unseen, or this agent's previous process). Try once more
                # when it would be released; at start, soon.
                refused = delay is not None
                if refused and not self.sessions:
                    delay = min(delay, self.settings.identity_retry)
                self.connected.clear()
                if stop.is_set():
                    break
                delay = self.backoff.next_delay() if delay is None else delay + 1
                LOG.info("reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            if wiring is not None:
                wiring.cancel()
            self.driver.unsubscribe(self._events)

    async def reconnect(self) -> None:
        """End the current stream; the next one opens a new channel (a renewed
        certificate). Guests are not touched."""
        if self._call is not None:
            self._call.cancel()

    async def _hello(self) -> pb.ConnectRequest:
        stats = await asyncio.to_thread(self.driver.host_stats)
        instances = await asyncio.to_thread(self.driver.list_instances)
        return pb.ConnectRequest(
            hello=pb.Hello(
                host_name=self.settings.host_name,
                agent_version=AGENT_VERSION,
                resources=convert.resources(stats),
                instances=convert.inventory(instances.values()),
                availability_zone=self.settings.availability_zone,
                tunnel_ip=self.settings.tunnel_ip,
                physical_networks=self.settings.physical_networks,
            )
        )

    async def _requests(self, hello: pb.ConnectRequest, outgoing: asyncio.Queue):
        yield hello
        while True:
            yield await outgoing.get()

    async def _session(self, stop: asyncio.Event) -> None:
        channel = self.channel_factory()
        outgoing: asyncio.Queue = asyncio.Queue(self.settings.send_queue_size)
        tasks: list[asyncio.Task] = []
        try:
            # Events so far are superseded by the inventory in the hello.
            self._drain_events()
            hello = await self._hello()
            stub = pb_grpc.NodeServiceStub(channel)
            call = self._call = stub.Connect(self._requests(hello, outgoing))
            responses = call.__aiter__()
            first = await asyncio.wait_for(responses.__anext__(), self.settings.welcome_timeout)
            if first.WhichOneof("body") != "welcome":
                raise RuntimeError("the controller did not welcome this node")
            welcome = first.welcome
            self.node_id = welcome.node_id
            self._outgoing = outgoing
            self._stub = stub
            self.sessions += 1
            self.backoff.reset()
            self.connected.set()
            LOG.info("connected to the controller as node %s", welcome.node_id)
            tasks = [
                asyncio.ensure_future(self._heartbeats(outgoing, welcome.report_interval_seconds)),
                asyncio.ensure_future(self._forward_events(outgoing)),
            ]
            stopper = asyncio.ensure_future(stop.wait())
            reader = asyncio.ensure_future(self._read(responses))
            tasks += [stopper, reader]
            done, _ = await asyncio.wait(
                [stopper, reader, *tasks[:2]], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                # A cancelled read is the stream ended on purpose (reconnect()).
                if task is not stopper and not task.cancelled() and task.exception():
                    raise task.exception()
            if stopper in done:
                call.cancel()
        finally:
            self._outgoing = None
            self._stub = None
            self._call = None
            for task in tasks:
                task.cancel()
            await channel.close()

    async def _read(self, responses) -> None:
        async for message in responses:
            if message.WhichOneof("body") == "command":
                task = asyncio.ensure_future(self._execute(message.command))
                self._commands.add(task)
                task.add_done_callback(self._commands.discard)
            elif message.WhichOneof("body") == "network_state" and self.network is not None:
                self.network.offer(convert_network.network_state(message.network_state))
            else:
                LOG.warning("unexpected %s from the controller", message.WhichOneof("body"))

    async def _execute(self, command: pb.Command) -> None:
        try:
            result = await self.executor.execute(command, self._image_chunks, self._upload_snapshot)
        except Exception:
            LOG.exception("command %s failed unexpectedly", command.command_id)
            return
        outgoing = self._outgoing
        if outgoing is not None:  # else: recorded; the controller sends the command again
            await outgoing.put(pb.ConnectRequest(command_result=result))

    async def _send_port_status(self, report: StatusReport) -> None:
        outgoing = self._outgoing
        if outgoing is not None:  # else: the next session's NetworkState brings a new report
            await outgoing.put(convert_network.port_status(report))

    async def _heartbeats(self, outgoing: asyncio.Queue, interval: int) -> None:
        while True:
            await asyncio.sleep(max(1, interval))
            stats = await asyncio.to_thread(self.driver.host_stats)
            await outgoing.put(
                pb.ConnectRequest(
                    heartbeat=pb.Heartbeat(
                        resources=convert.resources(stats), time=convert.timestamp()
                    )
                )
            )

    async def _forward_events(self, outgoing: asyncio.Queue) -> None:
        events = self._events
        pending: dict[str, LifecycleEvent] = {}  # instance -> its latest unsent event
        reporters: dict[str, asyncio.Task] = {}
        try:
            while True:
                event = await events.get()
                if events.lost:
                    events.lost = 0
                    self._drain_events()
                    instances = await asyncio.to_thread(self.driver.list_instances)
                    await outgoing.put(
                        pb.ConnectRequest(
                            inventory=pb.Inventory(instances=convert.inventory(instances.values()))
                        )
                    )
                    continue
                pending[event.uuid] = event
                reporter = reporters.get(event.uuid)
                if reporter is None or reporter.done():
                    # One reporter per instance, so a long command on one guest does not
                    # hold back the events of the others.
                    reporters[event.uuid] = asyncio.ensure_future(
                        self._report(event.uuid, pending, outgoing)
                    )
                    for uuid in [u for u, t in reporters.items() if t.done()]:
                        del reporters[uuid]
        finally:
            for reporter in reporters.values():
                reporter.cancel()

    async def _report(self, uuid: str, pending: dict, outgoing: asyncio.Queue) -> None:
        async with self.executor.instance_lock(uuid):
            while uuid in pending:  # events that came meanwhile are covered by one read
                event = pending.pop(uuid)
                state = await self._power_state(uuid, event.power_state)
                await outgoing.put(convert.event(replace(event, power_state=state)))

    async def _power_state(self, uuid: str, implied: PowerState) -> PowerState:
        try:
            return (await asyncio.to_thread(self.driver.get_info, uuid)).power_state
        except InstanceNotFound:
            return PowerState.NOSTATE
        except Exception:  # the hypervisor did not answer: what the event implies
            LOG.exception("reading the power state of %s failed", uuid)
            return implied

    def _drain_events(self) -> None:
        if self._events is None:
            return
        while not self._events.queue.empty():
            self._events.queue.get_nowait()
        self._events.lost = 0

    async def _upload_snapshot(self, command_id: str, image_id: str, data) -> None:
        """On the stream's channel, beside the stream: the controller's mutual-TLS listener
        is the only way out, so the host opens no port (docs/adr/0015)."""
        stub = self._stub
        if stub is None:
            raise NotConnected("no stream to the controller at the moment")

        async def requests():
            header = pb.SnapshotHeader(command_id=command_id, image_id=image_id)
            yield pb.UploadSnapshotRequest(header=header)
            async for chunk in data:
                yield pb.UploadSnapshotRequest(data=chunk)

        await stub.UploadSnapshot(requests())

    async def _image_chunks(self, image_id: str):
        """Through the session open now: a fetch tried again after a reconnect uses the new
        stream's channel, not the closed one of the session that received the command."""
        stub = self._stub
        if stub is None:
            raise NotConnected("no stream to the controller at the moment")
        async for response in stub.FetchImage(pb.FetchImageRequest(image_id=image_id)):
            yield response.data
