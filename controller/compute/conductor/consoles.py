"""The controller's end of console channels on one node's stream (the node's end:
compute_node/console_relay.py). `open` asks the node to connect to a guest's console and
returns the channel once the node answers; the stream's reader hands frames and closes here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

from stratus.node.v1 import node_service_pb2 as pb
from stratus_common.console_channel import ConsoleChannel, CreditExceeded
from stratus_common.errors import NotFound, ResourceExhausted, Unavailable

KINDS = {
    "vnc": pb.CONSOLE_KIND_VNC,
    "spice": pb.CONSOLE_KIND_SPICE,
    "serial": pb.CONSOLE_KIND_SERIAL,
}
Send = Callable[[pb.ConnectResponse], Awaitable[None]]


def _refusal(opened: pb.ConsoleOpened) -> Exception:
    if opened.error_code == "INSTANCE_NOT_FOUND":
        return NotFound("the server is not on its host", reason="CONSOLE_UNAVAILABLE")
    if opened.error_code == "TOO_MANY_CONSOLES":
        return ResourceExhausted(opened.error_message, reason="TOO_MANY_CONSOLES")
    return Unavailable(
        f"the server's console is not available: {opened.error_message}",
        reason="CONSOLE_UNAVAILABLE",
    )


class ConsoleChannels:
    def __init__(self, send: Send, *, max_channels: int, window_bytes: int):
        self._send = send
        self.max_channels = max_channels
        self.window_bytes = window_bytes
        self.channels: dict[str, ConsoleChannel] = {}
        self._opening: dict[str, asyncio.Future] = {}

    async def open(self, instance_id: str, kind: str, answer_within: float) -> ConsoleChannel:
        if len(self.channels) >= self.max_channels:
            raise ResourceExhausted(
                f"the server's host has {self.max_channels} consoles open; try again later",
                reason="TOO_MANY_CONSOLES",
            )
        channel_id = str(uuid.uuid4())

        async def send_frame(data: bytes, credit: int) -> None:
            await self._send(
                pb.ConnectResponse(
                    console_frame=pb.ConsoleFrame(
                        channel_id=channel_id, data=data, credit_bytes=credit
                    )
                )
            )

        # Registered before the node answers: its first bytes follow its answer on the stream
        # and may be read before this coroutine resumes.
        channel = ConsoleChannel(channel_id, send_frame, receive_window=self.window_bytes)
        self.channels[channel_id] = channel
        answer = asyncio.get_running_loop().create_future()
        self._opening[channel_id] = answer
        try:
            await self._send(
                pb.ConnectResponse(
                    console_open=pb.ConsoleOpen(
                        channel_id=channel_id,
                        instance_id=instance_id,
                        kind=KINDS[kind],
                        window_bytes=self.window_bytes,
                    )
                )
            )
            opened: pb.ConsoleOpened = await asyncio.wait_for(answer, answer_within)
        except TimeoutError:
            self.channels.pop(channel_id, None)
            await self._close_remote(channel_id, "no answer in time")
            raise Unavailable(
                "the server's host did not open its console in time", reason="CONSOLE_UNAVAILABLE"
            ) from None
        except BaseException:
            self.channels.pop(channel_id, None)
            raise
        finally:
            self._opening.pop(channel_id, None)
        if opened.error_code:
            self.channels.pop(channel_id, None)
            raise _refusal(opened)
        channel.grant(opened.window_bytes)
        return channel

    async def close(self, channel: ConsoleChannel, reason: str) -> None:
        """Our side is done with `channel`."""
        if self.channels.pop(channel.channel_id, None) is None:
            return
        already = channel.closed_reason is not None
        channel.on_close(reason)
        if not already:
            await self._close_remote(channel.channel_id, reason)

    async def _close_remote(self, channel_id: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._send(
                    pb.ConnectResponse(
                        console_close=pb.ConsoleClose(channel_id=channel_id, reason=reason)
                    )
                ),
                5,
            )

    # -- from the stream's reader: never blocks --------------------------------------------

    def dispatch(self, message: pb.ConnectRequest) -> bool:
        """Takes a console message from the node; False for a malformed one (the stream then
        ends: the node broke the protocol)."""
        kind = message.WhichOneof("body")
        if kind == "console_opened":
            answer = self._opening.get(message.console_opened.channel_id)
            if answer is not None and not answer.done():
                answer.set_result(message.console_opened)
            return True
        if kind == "console_frame":
            frame = message.console_frame
            channel = self.channels.get(frame.channel_id)
            if channel is not None:
                try:
                    channel.on_frame(frame.data, frame.credit_bytes)
                except CreditExceeded:
                    return False
            return True
        channel = self.channels.pop(message.console_close.channel_id, None)
        if channel is not None:
            channel.on_close(message.console_close.reason or "closed by the node")
        return True

    def close_all(self, reason: str) -> None:
        for channel in self.channels.values():
            channel.on_close(reason)
        self.channels.clear()
        for answer in self._opening.values():
            if not answer.done():
                answer.set_exception(
                    Unavailable("the server's host disconnected", reason="CONSOLE_UNAVAILABLE")
                )
