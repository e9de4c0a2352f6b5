"""The little of VNC's protocol (RFB 3.8) that the console tests and benchmark speak, over a
UNIX socket (the guest's own VNC socket on its node) or a websocket (through the console
proxy): no authentication (the guest's socket has none; the proxy's token stands in front of
it), raw encoding, update requests."""

from __future__ import annotations

import asyncio
import contextlib
import struct

RAW = 0


class ByteStream:
    """What the RFB client reads and writes: a UNIX socket or a websocket."""

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def _more(self) -> bytes:
        raise NotImplementedError

    def __init__(self):
        self.buffer = bytearray()
        self.received = 0

    async def fill(self) -> None:
        """Waits for more bytes and adds them to the buffer."""
        chunk = await self._more()
        if not chunk:
            raise ConnectionError("the console closed")
        self.received += len(chunk)
        self.buffer += chunk

    async def drain(self, quiet: float = 0.2) -> None:
        """Reads until nothing came for `quiet` seconds, and forgets it."""
        with contextlib.suppress(TimeoutError):
            while True:
                await asyncio.wait_for(self.fill(), quiet)
        self.buffer.clear()

    async def recv_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            await self.fill()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data


class SocketStream(ByteStream):
    def __init__(self, reader, writer):
        super().__init__()
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _more(self) -> bytes:
        return await self.reader.read(65536)

    async def close(self) -> None:
        self.writer.close()


class WebSocketStream(ByteStream):
    def __init__(self, websocket):
        super().__init__()
        self.websocket = websocket

    async def send(self, data: bytes) -> None:
        await self.websocket.send(data)

    async def _more(self) -> bytes:
        return await self.websocket.recv()

    async def close(self) -> None:
        await self.websocket.close()


class Rfb:
    """The little of RFB 3.8 a benchmark needs: no authentication (the guest's VNC socket has
    none; the proxy's token stands in front of it), raw encoding, update requests."""

    def __init__(self, stream: ByteStream):
        self.stream = stream
        self.width = self.height = self.bytes_per_pixel = 0

    async def handshake(self) -> None:
        s = self.stream
        await s.recv_exactly(12)
        await s.send(b"RFB 003.008\n")
        (count,) = await s.recv_exactly(1)
        if 1 not in await s.recv_exactly(count):
            raise ConnectionError("the VNC server wants authentication")
        await s.send(b"\x01")
        if await s.recv_exactly(4) != b"\0\0\0\0":
            raise ConnectionError("security handshake failed")
        await s.send(b"\x01")  # shared: other clients stay connected
        self.width, self.height = struct.unpack(">HH", await s.recv_exactly(4))
        self.bytes_per_pixel = (await s.recv_exactly(16))[0] // 8
        (name_length,) = struct.unpack(">I", await s.recv_exactly(4))
        await s.recv_exactly(name_length)
        await s.send(struct.pack(">BxHi", 2, 1, RAW))

    async def update(self, x: int = 0, y: int = 0, w: int = 0, h: int = 0) -> int:
        """A non-incremental update of the region (the whole screen by default); its bytes."""
        w, h = w or self.width, h or self.height
        await self.stream.send(struct.pack(">BBHHHH", 3, 0, x, y, w, h))
        s = self.stream
        while True:
            (kind,) = await s.recv_exactly(1)
            if kind == 0:
                break
            if kind == 2:  # bell
                continue
            raise ConnectionError(f"unexpected server message {kind}")
        _pad, rects = struct.unpack(">BH", await s.recv_exactly(3))
        size = 4
        for _ in range(rects):
            _x, _y, rw, rh, encoding = struct.unpack(">HHHHi", await s.recv_exactly(12))
            if encoding != RAW:
                raise ConnectionError(f"unexpected encoding {encoding}")
            size += 12 + len(await s.recv_exactly(rw * rh * self.bytes_per_pixel))
        return size
