"""The node's end of console channels: each ConsoleOpen from the controller connects to one
guest console's UNIX socket (VNC, SPICE or serial, see drivers/libvirt/xml.py) and relays its
bytes over the node's own stream, within the credit each side grants
(stratus_common/console_channel.py). The node opens no port for consoles.

Channels live as long as their stream: a stream that ends closes them all (the controller's
end is gone with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from compute_node.drivers.base import ComputeDriver, ConsoleUnavailable, InstanceNotFound
from stratus.node.v1 import node_service_pb2 as pb
from stratus_common.console_channel import ChannelClosed, ConsoleChannel, CreditExceeded

LOG = logging.getLogger(__name__)

KINDS = {
    pb.CONSOLE_KIND_VNC: "vnc",
    pb.CONSOLE_KIND_SPICE: "spice",
    pb.CONSOLE_KIND_SERIAL: "serial",
}


@dataclass(frozen=True)
class RelaySettings:
    max_channels: int = 100
    window_bytes: int = 256 * 1024  # what the controller may send a channel unread
    read_bytes: int = 256 * 1024  # read from a console socket at a time


class ConsoleRelay:
    def __init__(self, driver: ComputeDriver, settings: RelaySettings):
        self.driver = driver
        self.settings = settings
        self._outgoing: asyncio.Queue | None = None
        self.channels: dict[str, ConsoleChannel] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def attach(self, outgoing: asyncio.Queue) -> None:
        """A new stream: channels send on its queue."""
        self._outgoing = outgoing

    def detach(self) -> None:
        """The stream ended: every channel ends with it."""
        self._outgoing = None
        for task in self._tasks.values():
            task.cancel()
        for channel in self.channels.values():
            channel.on_close("the node's stream ended")
        self._tasks.clear()
        self.channels.clear()

    def dispatch(self, message: pb.ConnectResponse) -> None:
        kind = message.WhichOneof("body")
        if kind == "console_open":
            self._open(message.console_open)
        elif kind == "console_frame":
            frame = message.console_frame
            channel = self.channels.get(frame.channel_id)
            if channel is None:
                return  # closed here already; the controller learns it from our close
            try:
                channel.on_frame(frame.data, frame.credit_bytes)
            except CreditExceeded as exc:
                LOG.warning("%s", exc)
                channel.on_close("credit exceeded")
        elif kind == "console_close":
            channel = self.channels.get(message.console_close.channel_id)
            if channel is not None:
                channel.on_close(message.console_close.reason or "closed by the controller")

    async def _send(self, message: pb.ConnectRequest) -> None:
        outgoing = self._outgoing
        if outgoing is None:
            raise ChannelClosed("the node's stream ended")
        await outgoing.put(message)

    def _open(self, request: pb.ConsoleOpen) -> None:
        channel_id = request.channel_id
        if not channel_id or channel_id in self.channels:
            return
        if len(self.channels) >= self.settings.max_channels:
            refusal = pb.ConsoleOpened(
                channel_id=channel_id,
                error_code="TOO_MANY_CONSOLES",
                error_message=f"this node has {self.settings.max_channels} consoles open",
            )
            self._spawn(channel_id, self._send(pb.ConnectRequest(console_opened=refusal)))
            return

        async def send_frame(data: bytes, credit: int) -> None:
            await self._send(
                pb.ConnectRequest(
                    console_frame=pb.ConsoleFrame(
                        channel_id=channel_id, data=data, credit_bytes=credit
                    )
                )
            )

        channel = ConsoleChannel(
            channel_id,
            send_frame,
            receive_window=self.settings.window_bytes,
            send_window=request.window_bytes,
        )
        self.channels[channel_id] = channel
        self._spawn(channel_id, self._run(channel, request))

    def _spawn(self, channel_id: str, work) -> None:
        task = asyncio.ensure_future(work)
        self._tasks[channel_id] = task

        def forget(done: asyncio.Task) -> None:
            if self._tasks.get(channel_id) is done:
                del self._tasks[channel_id]
                self.channels.pop(channel_id, None)

        task.add_done_callback(forget)

    async def _run(self, channel: ConsoleChannel, request: pb.ConsoleOpen) -> None:
        channel_id = channel.channel_id
        kind = KINDS.get(request.kind, "")
        try:
            path = await asyncio.to_thread(self.driver.console_socket, request.instance_id, kind)
            reader, writer = await asyncio.open_unix_connection(path)
        except (InstanceNotFound, ConsoleUnavailable, OSError) as exc:
            code = (
                "INSTANCE_NOT_FOUND" if isinstance(exc, InstanceNotFound) else "CONSOLE_UNAVAILABLE"
            )
            await self._send(
                pb.ConnectRequest(
                    console_opened=pb.ConsoleOpened(
                        channel_id=channel_id, error_code=code, error_message=str(exc)
                    )
                )
            )
            return
        reason = "the console closed"
        try:
            await self._send(
                pb.ConnectRequest(
                    console_opened=pb.ConsoleOpened(
                        channel_id=channel_id, window_bytes=self.settings.window_bytes
                    )
                )
            )
            LOG.info("console %s of %s open (%s)", kind, request.instance_id, channel_id)
            pumps = [
                asyncio.ensure_future(self._from_guest(channel, reader)),
                asyncio.ensure_future(self._to_guest(channel, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
            reason = channel.closed_reason or reason
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if channel.closed_reason is None:  # we end it: tell the controller
                channel.on_close(reason)
                with contextlib.suppress(ChannelClosed):
                    await self._send(
                        pb.ConnectRequest(
                            console_close=pb.ConsoleClose(channel_id=channel_id, reason=reason)
                        )
                    )
            LOG.info("console %s of %s closed: %s", kind, request.instance_id, reason)

    async def _from_guest(self, channel: ConsoleChannel, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ChannelClosed):
            while data := await reader.read(self.settings.read_bytes):
                await channel.write(data)

    async def _to_guest(self, channel: ConsoleChannel, writer: asyncio.StreamWriter) -> None:
        while data := await channel.read():
            writer.write(data)
            await writer.drain()
            await channel.delivered(len(data))
