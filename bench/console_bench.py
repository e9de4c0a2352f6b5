"""Console benchmark: a real guest's VNC console through the console proxy and the node's stream
(browser side: a websocket to the controller's proxy), beside a direct connection to the same
VNC socket on the node (the baseline), in the same run.

    python -m bench.console_bench [--updates 20] [--round-trips 200] [--idle 50] [--busy 5]

- throughput: full-screen updates in raw encoding (the largest frames VNC sends), bytes/s;
- round trip: a 1x1 update request and its answer (a few dozen bytes each way; QEMU answers
  on its display refresh, ~30 ms, whichever way the request came), and a key typed into the
  guest's serial shell and its echo, median and 99th percentile;
- memory: the controller's and the node's resident memory with `--idle` open, silent console
  sessions and `--busy` sessions pulling full-screen updates as fast as they can.

The cloud: a controller with its proxy, a private libvirtd, one `stratus-compute` and the demo
image booted under QEMU software emulation (tests/support/console_cloud.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.support.console_cloud import console_cloud
from tests.support.rfb import Rfb, SocketStream, WebSocketStream


async def direct(cloud) -> Rfb:
    path = cloud.socket_dir / f"{cloud.server_id}.vnc"
    rfb = Rfb(SocketStream(*await asyncio.open_unix_connection(str(path))))
    await rfb.handshake()
    return rfb


async def tunnel(cloud, console_type, server_id=None):
    url = cloud.console(console_type, server_id=server_id).url
    parts = urllib.parse.urlsplit(url)
    return await ws_connect(
        f"ws://{parts.netloc}/websockify?{parts.query}",
        subprotocols=["binary"],
        max_size=1 << 20,
        compression=None,
    )


async def tunnelled(cloud, server_id=None) -> Rfb:
    rfb = Rfb(WebSocketStream(await tunnel(cloud, cpb.CONSOLE_TYPE_NOVNC, server_id)))
    await rfb.handshake()
    return rfb


async def serial_direct(cloud) -> SocketStream:
    path = cloud.socket_dir / f"{cloud.server_id}.serial"
    return SocketStream(*await asyncio.open_unix_connection(str(path)))


async def serial_tunnelled(cloud) -> WebSocketStream:
    return WebSocketStream(await tunnel(cloud, cpb.CONSOLE_TYPE_SERIAL))


async def echoes(stream, count: int) -> list[float]:
    """A key typed into the guest's serial shell and its echo, one at a time (the line is
    cleared every 40 keys)."""
    times = []
    for n in range(count):
        if n % 40 == 0:
            await stream.send(b"\x15")  # Ctrl-U: an empty line again
            await asyncio.sleep(0.5)
            await stream.drain()
        started = time.perf_counter()
        await stream.send(b"x")
        while b"x" not in stream.buffer:
            await stream.fill()
        times.append((time.perf_counter() - started) * 1000)
        stream.buffer.clear()
    return times


def spread(times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"median {statistics.median(times):6.2f} ms  p99 {p99:6.2f} ms"


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
        rtts = await round_trips(rfb, args.round_trips)
        print(
            f"VNC {label:20s} throughput {rate / 2**20:7.1f} MiB/s   1x1 update round trip "
            f"{spread(rtts)}"
        )
        await rfb.stream.close()
    for label, opener in (("direct", serial_direct), ("through the tunnel", serial_tunnelled)):
        stream = await opener(cloud)
        print(f"serial {label:20s} key echo {spread(await echoes(stream, args.round_trips))}")
        await stream.close()

    if not args.idle + args.busy:
        return
    pids = {"controller": cloud.controller.process.proc.pid, "node": cloud.node.proc.pid}
    before = {name: rss_mib(pid) for name, pid in pids.items()}
    # QEMU serves at most 32 VNC clients a guest: the idle sessions are shared by two.
    second = cloud.boot(wait_banner=False)
    await asyncio.sleep(5)
    idle = [await tunnelled(cloud, second if n % 2 else cloud.server_id) for n in range(args.idle)]
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
