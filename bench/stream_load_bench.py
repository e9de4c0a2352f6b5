"""Streams and transfers under load: what N members' idle watches, unread downloads and
parallel uploads cost the controller, and what they do to everybody else's calls.

Runs a real controller process (SQLite, file store in a temporary directory) and drives it
from this process over loopback:
  python -m bench.stream_load_bench [--watches 500] [--downloads 150] [--uploads 100]
      [--upload-mib 64] [--users 10] [--config 'EXTRA TOML']
Prints, for each phase, how many calls were refused with RESOURCE_EXHAUSTED, the controller's
CPU while the load sits idle, its RSS (now, peak, and after the load ended), and the p50 of
other calls (ListServers) beside the p50 before any load (target: within 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import grpc

from bench.common import cpu_seconds, load, start_controller
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.support.cloud import Cloud
from tests.support.procfs import reset_peak, rss
from tests.support.transfers import MIB, upload

IDLE_SECONDS = 5.0
UPLOAD_TIMEOUT = 600


class Outcome:
    """Codes the calls of one phase ended with."""

    def __init__(self):
        self.codes: dict[str, int] = {}

    def add(self, code: grpc.StatusCode) -> None:
        self.note(code.name)

    def note(self, result: str) -> None:
        """A result as tests.support.transfers gives it ("" for OK)."""
        name = result or "OK"
        self.codes[name] = self.codes.get(name, 0) + 1

    def __str__(self) -> str:
        return ", ".join(f"{n} {name}" for name, n in sorted(self.codes.items())) or "none"


async def hold(call, opened, outcome: Outcome) -> None:
    """Keeps a call open, reading nothing once `opened` (awaited) says it is; notes how it
    ended."""
    try:
        await opened
        if call.done():  # refused: a status without a message
            outcome.add(await call.code())
            return
        await asyncio.Event().wait()
    except grpc.aio.AioRpcError as exc:
        outcome.add(exc.code())
    except asyncio.CancelledError:
        call.cancel()
        outcome.add(grpc.StatusCode.CANCELLED)
        raise


def compare(result, base) -> None:
    """Other calls under load beside the same calls before it."""
    print(
        f"{result.line(base)}\n{'':<44} p50 {result.p50_ms / base.p50_ms:5.2f}x of no load "
        "(target <= 2x)",
        flush=True,
    )


def hold_watch(stub, md, outcome: Outcome):
    """An idle watch (its headers say it is open)."""
    call = stub.WatchServers(cpb.WatchServersRequest(), metadata=md)
    return hold(call, call.initial_metadata(), outcome)


def hold_download(stub, md, image_id: str, outcome: Outcome):
    """A download whose data is never read (its first message says what comes)."""
    call = stub.DownloadImageData(ipb.DownloadImageDataRequest(image_id=image_id), metadata=md)
    return hold(call, call.read(), outcome)


def upload_all(address: str, jobs: list[tuple]) -> list[str]:
    """Every upload at once, a thread each; what each ended with."""
    with grpc.insecure_channel(address) as channel, ThreadPoolExecutor(len(jobs)) as pool:
        images = ipb_grpc.ImageServiceStub(channel)
        return list(pool.map(lambda job: upload(images, *job, UPLOAD_TIMEOUT), jobs))


async def new_image(images, md) -> str:
    return (
        await images.CreateImage(
            ipb.CreateImageRequest(
                image=ipb.Image(
                    name="load",
                    disk_format=ipb.DISK_FORMAT_RAW,
                    container_format=ipb.CONTAINER_FORMAT_BARE,
                )
            ),
            metadata=md,
        )
    ).id


async def run(args) -> None:
    ctl = start_controller(args.config)
    pid = ctl.proc.pid
    cloud = Cloud(ctl.address)
    tenants = [cloud.tenant() for _ in range(args.users)]
    channel = grpc.aio.insecure_channel(ctl.address)
    compute = cpb_grpc.ComputeServiceStub(channel)
    images = ipb_grpc.ImageServiceStub(channel)
    sync_images = ipb_grpc.ImageServiceStub(cloud.channel)  # see tests.support.transfers
    probe_md = cloud.tenant().metadata

    async def other_calls(label: str):
        return await load(
            label,
            lambda: compute.ListServers(cpb.ListServersRequest(), metadata=probe_md),
            concurrency=2,
            max_calls=300,
            max_seconds=15,
        )

    def line(label: str, value: str) -> None:
        print(f"{label:<44} {value}", flush=True)

    try:
        base = await other_calls("ListServers, no load")
        line("controller RSS at rest", f"{rss(pid) / MIB:8.1f} MiB")
        print(base.line(), flush=True)

        # -- idle watches -----------------------------------------------------------------
        outcome, tasks = Outcome(), []
        for n in range(args.watches):
            md = tenants[n % len(tenants)].metadata
            tasks.append(asyncio.ensure_future(hold_watch(compute, md, outcome)))
        await asyncio.sleep(2)
        cpu = cpu_seconds(pid)
        await asyncio.sleep(IDLE_SECONDS)
        busy = (cpu_seconds(pid) - cpu) / IDLE_SECONDS
        result = await other_calls(f"ListServers, {args.watches} watches open")
        line(f"{args.watches} idle watches: refused/ended", str(outcome))
        line("controller CPU while they idle", f"{busy * 100:8.1f} % of a core")
        compare(result, base)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        # -- unread downloads -------------------------------------------------------------
        owner = tenants[0].metadata
        image_id = await new_image(images, owner)
        upload(sync_images, owner, image_id, args.download_mib * MIB, UPLOAD_TIMEOUT)
        await images.UpdateImage(
            ipb.UpdateImageRequest(
                image=ipb.Image(id=image_id, visibility=ipb.IMAGE_VISIBILITY_PUBLIC),
                update_mask={"paths": ["visibility"]},
            ),
            metadata=cloud.admin,
        )
        before = rss(pid)
        outcome = Outcome()
        tasks = [
            asyncio.ensure_future(
                hold_download(images, tenants[n % len(tenants)].metadata, image_id, outcome)
            )
            for n in range(args.downloads)
        ]
        await asyncio.sleep(IDLE_SECONDS)
        held = rss(pid) - before
        result = await other_calls(f"ListServers, {args.downloads} downloads held")
        line(f"{args.downloads} unread downloads: refused", str(outcome))
        line(
            "controller RSS they hold",
            f"{held / MIB:8.1f} MiB ({held / max(1, args.downloads) / MIB:.2f} MiB each)",
        )
        compare(result, base)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        # -- parallel uploads -------------------------------------------------------------
        ids = [
            await new_image(images, tenants[n % len(tenants)].metadata) for n in range(args.uploads)
        ]
        await asyncio.sleep(1)
        before = rss(pid)
        reset_peak(pid)
        outcome = Outcome()
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        jobs = [
            (tenants[n % len(tenants)].metadata, image_id, args.upload_mib * MIB)
            for n, image_id in enumerate(ids)
        ]
        # From a process of their own: their client threads must not slow this one's calls.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            uploads = loop.run_in_executor(pool, upload_all, ctl.address, jobs)
            result = await other_calls(f"ListServers, {args.uploads} uploads running")
            for done in await uploads:
                outcome.note(done)
        elapsed = time.perf_counter() - start
        peak = rss(pid, "VmHWM")
        await asyncio.sleep(3)
        line(f"{args.uploads} x {args.upload_mib} MiB uploads", f"{outcome} in {elapsed:.1f} s")
        line(
            "controller RSS: before, peak, 3 s after",
            f"{before / MIB:.1f}, {peak / MIB:.1f}, {rss(pid) / MIB:.1f} MiB "
            f"(peak +{(peak - before) / MIB:.1f} MiB)",
        )
        compare(result, base)
    finally:
        await channel.close()
        cloud.close()
        ctl.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watches", type=int, default=500)
    parser.add_argument("--downloads", type=int, default=150)
    parser.add_argument("--download-mib", type=int, default=64)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--upload-mib", type=int, default=64)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--config", default="", help="extra TOML for the controller's config")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
