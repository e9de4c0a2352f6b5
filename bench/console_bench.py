"""Console benchmark: a real guest's VNC console through the console proxy and the node's stream
(browser side: a websocket to the controller's proxy), beside a direct connection to the same
VNC socket on the node (the baseline), in the same run.

    python -m bench.console_bench [--updates 20] [--round-trips 200] [--idle 50] [--busy 5]

- throughput: full-screen updates in raw encoding (the largest frames VNC sends), bytes/s;
- round trip: a 1x1 update request and its answer (a few dozen bytes each way), median and
  99th percentile;
- memory: the controller's and the node's resident memory with `--idle` open, silent console
  sessions and `--busy` sessions pulling full-screen updates as fast as they can.

The cloud: a controller with its proxy, a private libvirtd, one `stratus-compute` and the demo
image booted under QEMU software emulation (tests/support/console_cloud.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import struct
import tempfile
import time
import urllib.parse
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.support.console_cloud import console_cloud

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

    async def recv_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = await self._more()
            if not chunk:
                raise ConnectionError("the console closed")
            self.received += len(chunk)
            self.buffer += chunk
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


async def direct(cloud) -> Rfb:
    path = cloud.socket_dir / f"{cloud.server_id}.vnc"
    rfb = Rfb(SocketStream(*await asyncio.open_unix_connection(str(path))))
    await rfb.handshake()
    return rfb


async def tunnelled(cloud) -> Rfb:
    url = cloud.console(cpb.CONSOLE_TYPE_NOVNC).url
    parts = urllib.parse.urlsplit(url)
    websocket = await ws_connect(
        f"ws://{parts.netloc}/websockify?{parts.query}",
        subprotocols=["binary"],
        max_size=1 << 20,
        compression=None,
    )
    rfb = Rfb(WebSocketStream(websocket))
    await rfb.handshake()
    return rfb


async def throughput(rfb: Rfb, updates: int) -> float:
    await rfb.update()  # warm
    started, total = time.perf_counter(), 0
    for _ in range(updates):
        total += await rfb.update()
    return total / (time.perf_counter() - started)


async def round_trips(rfb: Rfb, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await rfb.update(0, 0, 1, 1)
        times.append((time.perf_counter() - started) * 1000)
    return times


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(cloud, args) -> None:
    probe = await direct(cloud)
    print(f"guest screen {probe.width}x{probe.height}, {probe.bytes_per_pixel} bytes a pixel")
    await probe.stream.close()
    for label, opener in (("direct VNC socket", direct), ("through the tunnel", tunnelled)):
        rfb = await opener(cloud)
        rate = await throughput(rfb, args.updates)
        rtts = sorted(await round_trips(rfb, args.round_trips))
        p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
        print(
            f"{label:20s} throughput {rate / 2**20:7.1f} MiB/s   small-frame round trip "
            f"median {statistics.median(rtts):6.2f} ms  p99 {p99:6.2f} ms"
        )
        await rfb.stream.close()

    pids = {"controller": cloud.controller.process.proc.pid, "node": cloud.node.proc.pid}
    before = {name: rss_mib(pid) for name, pid in pids.items()}
    idle = [await tunnelled(cloud) for _ in range(args.idle)]
    busy = [await tunnelled(cloud) for _ in range(args.busy)]
    stop = asyncio.Event()

    async def pull(rfb: Rfb) -> int:
        count = 0
        while not stop.is_set():
            await rfb.update()
            count += 1
        return count

    pullers = [asyncio.ensure_future(pull(rfb)) for rfb in busy]
    peak = dict.fromkeys(pids, 0.0)
    deadline = time.monotonic() + args.busy_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        for name, pid in pids.items():
            peak[name] = max(peak[name], rss_mib(pid))
    stop.set()
    pulled = sum(await asyncio.gather(*pullers))
    moved = sum(rfb.stream.received for rfb in busy)
    for rfb in idle + busy:
        await rfb.stream.close()
    print(
        f"{args.idle} idle + {args.busy} busy sessions for {args.busy_seconds:.0f} s "
        f"({pulled} full updates, {moved / 2**20:.0f} MiB relayed):"
    )
    for name in pids:
        print(
            f"  {name:10s} resident {before[name]:6.1f} MiB before, peak {peak[name]:6.1f} MiB "
            f"(+{peak[name] - before[name]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--idle", type=int, default=50)
    parser.add_argument("--busy", type=int, default=5)
    parser.add_argument("--busy-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with console_cloud(Path(tempfile.mkdtemp(prefix="stratus-console-bench-"))) as cloud:
        asyncio.run(measure(cloud, args))


if __name__ == "__main__":
    main()
