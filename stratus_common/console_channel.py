"""One end of a console channel carried over a node's stream (stratus.node.v1 ConsoleOpen):
the bytes of one guest console, in order both ways, each direction limited by the credit its
receiver granted. A slow reader holds the writer back, and neither side ever holds more
than one window of a channel's bytes; a peer that sends past its credit is a protocol
violation, not a reason to buffer more.

The controller and the node each build their own messages around it: `send_frame(data,
credit)` sends one ConsoleFrame on that side's stream.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

SendFrame = Callable[[bytes, int], Awaitable[None]]
MAX_FRAME_BYTES = 256 * 1024


class ChannelClosed(Exception):
    """The channel ended (either side closed it, or its stream ended)."""


class CreditExceeded(Exception):
    """The peer sent more bytes than it was granted."""


class ConsoleChannel:
    def __init__(
        self,
        channel_id: str,
        send_frame: SendFrame,
        *,
        receive_window: int,
        send_window: int = 0,
        max_frame: int = MAX_FRAME_BYTES,
    ):
        self.channel_id = channel_id
        self._send_frame = send_frame
        self._receive_window = receive_window
        self._peer_allowance = receive_window  # bytes the peer may still send
        self._consumed = 0  # delivered on our side, not yet granted back
        self._send_credit = send_window
        self._max_frame = max_frame
        self._incoming: collections.deque[bytes] = collections.deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self.closed_reason: str | None = None
        self.last_activity = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def buffered(self) -> int:
        return sum(len(chunk) for chunk in self._incoming)

    # -- from the stream's reader: never blocks --------------------------------------------

    def grant(self, credit: int) -> None:
        """The peer's first window (its answer to the open) or more credit."""
        if credit > 0:
            self._send_credit += credit
            self._writable.set()

    def on_frame(self, data: bytes, credit: int) -> None:
        if len(data) > self._peer_allowance:
            raise CreditExceeded(
                f"console channel {self.channel_id}: {len(data)} bytes past the credit granted"
            )
        if data:
            self._peer_allowance -= len(data)
            self._incoming.append(data)
            self.bytes_in += len(data)
            self.last_activity = time.monotonic()
            self._readable.set()
        self.grant(credit)

    def on_close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason or "closed"
        self._readable.set()
        self._writable.set()

    # -- the local end ---------------------------------------------------------------------

    async def read(self) -> bytes:
        """The next bytes from the peer; b"" once the channel is closed and drained. Call
        `delivered(n)` once they are passed on."""
        while not self._incoming:
            if self.closed_reason is not None:
                return b""
            self._readable.clear()
            await self._readable.wait()
        return self._incoming.popleft()

    async def delivered(self, count: int) -> None:
        """`count` bytes read were passed on: grant them back, in batches of a quarter window
        (small enough that the peer rarely waits for credit, large enough to be few)."""
        self._consumed += count
        if self._consumed >= self._receive_window // 4 and self.closed_reason is None:
            grant, self._consumed = self._consumed, 0
            self._peer_allowance += grant
            await self._send_frame(b"", grant)

    async def write(self, data: bytes) -> None:
        """Sends `data` to the peer, waiting for credit as needed."""
        view = memoryview(data)
        while view:
            while self._send_credit <= 0:
                if self.closed_reason is not None:
                    raise ChannelClosed(self.closed_reason)
                self._writable.clear()
                await self._writable.wait()
            if self.closed_reason is not None:
                raise ChannelClosed(self.closed_reason)
            count = min(len(view), self._send_credit, self._max_frame)
            self._send_credit -= count
            self.bytes_out += count
            self.last_activity = time.monotonic()
            await self._send_frame(bytes(view[:count]), 0)
            view = view[count:]
