"""NodeService on the node listener: one NodeSession per open Connect stream, and FetchImage.

The stream is thin: messages are converted and handed to the conductor's transactions. Both
directions are bounded: the node's messages are read one at a time (gRPC flow control holds
the rest back), commands wait in the database until the node has room
(`max_inflight_commands`), and the send queue has a fixed size.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import grpc

from controller.compute.conductor import convert, images, nodes, outbox, workflow
from controller.compute.conductor.conductor import Conductor
from controller.compute.conductor.consoles import ConsoleChannels
from controller.compute.conductor.network_push import NetworkPush
from controller.logs import fields
from controller.metrics import IMAGE_BYTES
from controller.network import node_wire
from controller.node_listener import current_peer
from controller.rpc import encoded, status
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as pb_grpc
from stratus_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    StratusError,
    Unavailable,
)

log = logging.getLogger(__name__)
_END = object()
IMAGE_CHUNK_BYTES = 1024 * 1024
_FETCH_DATA = pb.FetchImageResponse.DATA_FIELD_NUMBER
_NODE_FETCHED = IMAGE_BYTES.labels("node_fetch")


class NodeSession:
    def __init__(self, conductor: Conductor, host: str, context):
        self.conductor = conductor
        self.db = conductor.db
        self.settings = conductor.settings
        self.host = host
        self.context = context
        self.session_id = str(uuid.uuid4())
        self.node_id = ""
        self.wake = asyncio.Event()
        self.outgoing: asyncio.Queue = asyncio.Queue(self.settings.send_queue_size)
        self.consoles = ConsoleChannels(
            self.outgoing.put,
            max_channels=self.settings.console_channels_per_node,
            window_bytes=self.settings.console_window_bytes,
        )
        self.network: NetworkPush | None = None

    async def run(self, hello: pb.Hello, requests):
        resources = convert.resources(hello.resources)
        conductor = self.conductor
        claim = nodes.Session(
            self.session_id, conductor.owner, conductor.service_down_time, conductor.is_open
        )

        def register(db, _settings):
            return nodes.register(
                self.host,
                resources,
                availability_zone=hello.availability_zone,
                agent_version=hello.agent_version,
                session=claim,
                host_ip=_peer_ip(self.context),
            )

        # Open before it is recorded: a hello racing it on this replica sees it live.
        conductor.open_sessions[self.session_id] = self
        try:
            node = await conductor.txn(register)
        except FailedPrecondition as refusal:
            del conductor.open_sessions[self.session_id]
            log.warning(
                "refused a second session for host %s: it has a live one",
                self.host,
                extra=fields(host=self.host, session=self.session_id),
            )
            code, message, details = status.from_exception(refusal)
            await self.context.abort(
                code, message, trailing_metadata=(("grpc-status-details-bin", details),)
            )
        except BaseException:
            del conductor.open_sessions[self.session_id]
            raise
        self.node_id = node.id
        await self._network_hello(hello)
        self.network = NetworkPush(conductor.network, node.id)
        previous = conductor.sessions.get(node.id)
        conductor.sessions[node.id] = self
        if previous is not None:
            previous.wake.set()  # it finds it is no longer current and ends
        log.info(
            "node connected", extra=fields(host=self.host, node_id=node.id, session=self.session_id)
        )
        tasks = []
        try:
            yield convert.welcome(
                node.id,
                self.settings.report_interval,
                conductor.service_down_time,
                conductor.max_message_bytes,
            )
            state = await self.db.run(self.network.due)
            if state is not None:
                yield state
            await self._reconcile(list(hello.instances))
            tasks = [
                asyncio.ensure_future(self._read(requests)),
                asyncio.ensure_future(self._deliver()),
            ]
            while (message := await self.outgoing.get()) is not _END:
                yield message
        finally:
            self.consoles.close_all("the node's stream ended")
            del conductor.open_sessions[self.session_id]
            for task in tasks:
                task.cancel()
            if conductor.sessions.get(self.node_id) is self:
                del conductor.sessions[self.node_id]
            log.info("node disconnected", extra=fields(host=self.host, node_id=self.node_id))
            # Shielded: a second cancellation of the call must not skip the record.
            await asyncio.shield(self.db.run(nodes.disconnected, self.node_id, self.session_id))

    async def _network_hello(self, hello: pb.Hello) -> None:
        tunnel_ip = hello.tunnel_ip
        try:
            await self.db.run(
                self.conductor.network.node_hello,
                self.node_id,
                tunnel_ip,
                list(hello.physical_networks),
            )
        except InvalidArgument:
            log.warning("node %s sent a tunnel_ip that is no address: ignored", self.host)
            await self.db.run(
                self.conductor.network.node_hello, self.node_id, "", list(hello.physical_networks)
            )

    async def _reconcile(self, instances) -> None:
        reports = await self.db.run(
            self.conductor.without_port_addresses, [convert.instance_report(i) for i in instances]
        )
        outcome = await self.conductor.txn(
            workflow.reconcile, self.node_id, self.session_id, reports
        )
        if outcome.reaped:
            self.wake.set()

    async def _end(self) -> None:
        await self.outgoing.put(_END)

    async def _read(self, requests) -> None:
        try:
            async for message in requests:
                kind = message.WhichOneof("body")
                if kind == "heartbeat":
                    res = (
                        convert.resources(message.heartbeat.resources)
                        if message.heartbeat.HasField("resources")
                        else None
                    )
                    if not await self.db.run(nodes.heartbeat, self.node_id, self.session_id, res):
                        break  # another stream took over this node
                elif kind == "instance_event":
                    event = message.instance_event
                    await self.conductor.txn(
                        _event,
                        self.node_id,
                        event.instance_id,
                        convert.POWER_STATES.get(event.power_state, "nostate"),
                    )
                elif kind == "command_result":
                    await self.conductor.on_result(
                        self.node_id, convert.result(message.command_result)
                    )
                elif kind == "inventory":
                    await self._reconcile(list(message.inventory.instances))
                elif kind in ("console_opened", "console_frame", "console_close"):
                    if not self.consoles.dispatch(message):
                        log.warning("node %s sent console bytes past its credit", self.host)
                        break
                elif kind == "port_status":
                    await self.db.run(
                        self.conductor.network.port_status,
                        self.node_id,
                        node_wire.port_statuses(message.port_status),
                    )
                else:
                    log.warning(
                        "node %s sent an unexpected %s message; closing", self.host, kind or "empty"
                    )
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading from node %s failed", self.host)
        finally:
            await self._end()

    async def _deliver(self) -> None:
        resend = True
        try:
            while True:
                self.wake.clear()
                if not await self.db.run(nodes.is_current, self.node_id, self.session_id):
                    break
                if self.network is not None:
                    state = await self.db.run(self.network.due)
                    if state is not None:
                        await self.outgoing.put(state)
                rows = await self.conductor.txn(_take, self.node_id, resend)
                resend = False
                for row in rows:
                    await self.outgoing.put(convert.command(row))
                # Woken by whoever writes a command or frees room for one, and by the
                # conductor's watch_outbox for what another replica did.
                await self.wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering commands to node %s failed", self.host)
        await self._end()


def _take(db, settings, node_id: str, resend: bool):
    return outbox.take_for_delivery(node_id, settings.max_inflight_commands, resend)


def _event(db, settings, node_id: str, instance_id: str, power_state: str):
    return workflow.apply_event(node_id, instance_id, power_state)


def _peer_ip(context) -> str:
    peer = context.peer() or ""
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            return peer[len(prefix) :].rsplit(":", 1)[0].strip("[]")
    return ""


class NodeServicer(pb_grpc.NodeServiceServicer):
    def __init__(self, conductor: Conductor):
        self.conductor = conductor

    async def Connect(self, request_iterator, context):
        host = current_peer().host_name.lower()
        try:
            first = await asyncio.wait_for(
                request_iterator.__anext__(), self.conductor.settings.hello_timeout
            )
        except (TimeoutError, StopAsyncIteration):
            return
        if first.WhichOneof("body") != "hello":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message on the stream must be a hello"
            )
        if first.hello.host_name.lower() != host:
            log.warning("node with a certificate for %s said it is %s", host, first.hello.host_name)
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"this certificate is for host {host}"
            )
        session = NodeSession(self.conductor, host, context)
        async for message in session.run(first.hello, request_iterator):
            yield message

    async def FetchImage(self, request, context):
        host = current_peer().host_name.lower()
        conductor = self.conductor

        def allowed() -> bool:
            node = nodes.by_host(host)
            return node is not None and images.node_may_fetch(node.id, request.image_id)

        chunk = min(IMAGE_CHUNK_BYTES, conductor.max_message_bytes // 2)
        try:
            data = (
                await conductor.images.open_data(request.image_id, chunk)
                if await conductor.db.run(allowed)
                else None
            )
        except Unavailable as exc:  # the database is down: the node fetches again later
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        except StratusError:  # the image has no data: the node's spawn fails
            data = None
        if data is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no server on host {host} needs image {request.image_id}",
            )
        async for piece in data:
            _NODE_FETCHED.inc(len(piece))
            yield encoded.bytes_field(_FETCH_DATA, piece)

    async def UploadSnapshot(self, request_iterator, context):
        """A snapshot's data from the node that took it (docs/adr/0015): only for a live
        snapshot command of this node naming the image, into the image service's upload."""
        host = current_peer().host_name.lower()
        conductor = self.conductor
        first = await request_iterator.__anext__()
        header = first.header if first.WhichOneof("part") == "header" else None
        if header is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the first message must be the header"
            )

        def allowed() -> bool:
            node = nodes.by_host(host)
            return node is not None and workflow.may_upload_snapshot(
                node.id, header.command_id, header.image_id
            )

        if not await conductor.db.run(allowed):
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"host {host} has no snapshot to send for image {header.image_id}",
            )

        async def chunks():
            async for message in request_iterator:
                yield message.data

        try:
            ref = await conductor.images.upload_snapshot(header.image_id, chunks())
        except StratusError as error:
            log.warning("snapshot %s from %s refused: %s", header.image_id, host, error.message)
            await context.abort(status.code_for(error), error.message)
        return pb.UploadSnapshotResponse(size=ref.size, os_hash_value=ref.os_hash_value)
