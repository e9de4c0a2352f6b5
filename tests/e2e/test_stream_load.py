"""Streams and transfers against the limits, on a real controller process: idle watches,
unread downloads and parallel uploads beyond the per-user and global limits are refused with
RESOURCE_EXHAUSTED and the limit's reason; the others run; every other call still answers;
the controller's memory, read from /proc, stays under a stated bound and is returned.

Latency under this load is a benchmark's figure (bench/stream_load_bench.py), not asserted.
"""

import asyncio
import os

import grpc
import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.integration.compute_node.node_support import upload_image
from tests.support.cloud import Cloud, unique
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.procfs import reset_peak, rss
from tests.support.transfers import MIB, outcome, upload

STREAMS_PER_USER, STREAMS = 3, 8
TRANSFERS_PER_USER, TRANSFERS = 2, 3
IMAGE_MIB = 32
USERS = 4
# What the controller may grow by, at its peak, while it serves all of this: the admitted
# transfers' windows and chunks, the streams' queues. Unbounded, one upload of this size
# took ~28 MiB and an unread download ~5 MiB.
RSS_GROWTH_BOUND = 64 * MIB
# What may stay once the load is gone (allocator and cache noise).
RSS_KEPT_BOUND = 32 * MIB
TIMEOUT = 120


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    root = tmp_path_factory.mktemp("load")
    config = write_config(
        root / "state",
        extra=(
            f"[limits]\nmax_streams_per_user = {STREAMS_PER_USER}\nmax_streams = {STREAMS}\n"
            f"max_transfers_per_user = {TRANSFERS_PER_USER}\nmax_transfers = {TRANSFERS}\n"
        ),
    )
    prepare(config)
    process = ControllerProcess(config, root / "controller.log").start()
    yield process
    process.terminate()


@pytest.fixture(scope="module")
def cloud(controller):
    client = Cloud(controller.address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def tenants(cloud):
    return [cloud.tenant() for _ in range(USERS)]


@pytest.fixture(scope="module")
def image(cloud):
    """A public image of IMAGE_MIB."""
    return upload_image(cloud, os.urandom(MIB) * IMAGE_MIB, "raw")


class Load:
    """Streams held open from one asyncio client, and what each ended with."""

    def __init__(self, address: str):
        self.channel = grpc.aio.insecure_channel(address)
        self.compute = cpb_grpc.ComputeServiceStub(self.channel)
        self.images = ipb_grpc.ImageServiceStub(self.channel)
        self.sync_channel = grpc.insecure_channel(address)
        self.sync_images = ipb_grpc.ImageServiceStub(self.sync_channel)
        self.calls: list = []

    async def opened(self, call, started) -> str:
        """'' once the call is open (`started` returned); else its code and reason."""
        try:
            await asyncio.wait_for(started, TIMEOUT)
            if call.done():  # a refusal is a status without a message
                await call.read()
        except grpc.aio.AioRpcError as error:
            return outcome(error)
        self.calls.append(call)
        return ""

    async def watch(self, tenant) -> str:
        """An idle watch: the headers say it is open."""
        call = self.compute.WatchServers(cpb.WatchServersRequest(), metadata=tenant.metadata)
        return await self.opened(call, call.initial_metadata())

    async def download(self, tenant, image_id: str) -> str:
        """A download whose data is never read (its first message says what comes)."""
        call = self.images.DownloadImageData(
            ipb.DownloadImageDataRequest(image_id=image_id), metadata=tenant.metadata
        )
        return await self.opened(call, call.read())

    async def upload(self, tenant, size: int) -> str:
        created = await self.images.CreateImage(
            ipb.CreateImageRequest(
                image=ipb.Image(
                    name=unique("up"),
                    disk_format=ipb.DISK_FORMAT_RAW,
                    container_format=ipb.CONTAINER_FORMAT_BARE,
                )
            ),
            metadata=tenant.metadata,
        )
        return await asyncio.to_thread(
            upload, self.sync_images, tenant.metadata, created.id, size, TIMEOUT
        )

    async def other_call(self, tenant) -> None:
        await self.compute.ListServers(
            cpb.ListServersRequest(), metadata=tenant.metadata, timeout=TIMEOUT
        )

    async def close(self) -> None:
        for call in self.calls:
            call.cancel()
        self.calls.clear()
        await self.channel.close()
        self.sync_channel.close()


def test_streams_and_transfers_beyond_the_limits_are_refused_and_memory_stays_bounded(
    controller, tenants, image
):
    pid = controller.proc.pid
    first, second, third, fourth = tenants

    async def scenario():
        load = Load(controller.address)
        try:
            await load.other_call(first)
            at_rest = rss(pid)
            reset_peak(pid)

            # N idle watches: 3 a user, 8 in all.
            watches = [await load.watch(first) for _ in range(STREAMS_PER_USER + 2)]
            watches += [await load.watch(t) for t in (second, third) for _ in range(3)]
            assert watches == (
                [""] * STREAMS_PER_USER
                + ["RESOURCE_EXHAUSTED STREAM_LIMIT_PER_USER"] * 2
                + [""] * 5
                + ["RESOURCE_EXHAUSTED STREAM_LIMIT"]
            )
            await load.other_call(fourth)

            # N unread downloads: 2 a user, 3 transfers in all.
            downloads = [await load.download(first, image) for _ in range(TRANSFERS_PER_USER + 1)]
            downloads += [await load.download(t, image) for t in (second, third)]
            assert downloads == (
                [""] * TRANSFERS_PER_USER
                + [
                    "RESOURCE_EXHAUSTED TRANSFER_LIMIT_PER_USER",
                    "",
                    "RESOURCE_EXHAUSTED TRANSFER_LIMIT",
                ]
            )
            # every transfer slot is taken by a download nobody reads: uploads wait their turn
            assert await load.upload(fourth, MIB) == "RESOURCE_EXHAUSTED TRANSFER_LIMIT"
            await load.other_call(fourth)
            await load.close()

            # N parallel uploads: as many run as the limits let in, the rest are refused.
            load = Load(controller.address)
            uploads = await asyncio.gather(
                *(load.upload(t, IMAGE_MIB * MIB) for t in tenants for _ in range(2))
            )
            await load.other_call(fourth)
            peak = rss(pid, "VmHWM")
            admitted = uploads.count("")
            assert 1 <= admitted <= TRANSFERS
            assert set(uploads) <= {
                "",
                "RESOURCE_EXHAUSTED TRANSFER_LIMIT",
                "RESOURCE_EXHAUSTED TRANSFER_LIMIT_PER_USER",
            }
            assert peak - at_rest < RSS_GROWTH_BOUND, (
                f"controller RSS grew by {(peak - at_rest) / MIB:.0f} MiB"
            )
            await asyncio.sleep(1)
            after = rss(pid)
            assert after - at_rest < RSS_KEPT_BOUND, (
                f"controller kept {(after - at_rest) / MIB:.0f} MiB after the load"
            )
        finally:
            await load.close()

    asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 2))

    # the slots are returned: all four may watch and transfer again
    async def again():
        load = Load(controller.address)
        try:
            assert [await load.watch(t) for t in tenants] == [""] * USERS
            assert await load.upload(first, MIB) == ""
        finally:
            await load.close()

    asyncio.run(asyncio.wait_for(again(), TIMEOUT))
