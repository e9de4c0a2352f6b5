"""Runs the controller's commands on this host, each command id at most once.

Commands for one instance run one after another, in the order they arrived; commands for
different instances run side by side, at most `concurrency` at a time. Driver calls block,
so they run in worker threads. The journal tells a command that waited for its turn when the
agent stopped (it runs after the restart) from one that had begun (interrupted).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc

from compute_node import convert, convert_network
from compute_node.drivers.base import (
    ComputeDriver,
    DriverError,
    ImageFile,
    InstanceExists,
    InstanceNotFound,
    InstanceSpec,
    InvalidSpec,
    InvalidState,
    PowerState,
)
from compute_node.image_cache import ImageCache, ImageCacheError, ImageRejected
from compute_node.image_fetch import FetchGaveUp, ImageFetcher, ImageSource
from compute_node.journal import DONE, QUEUED, Journal
from compute_node.phases import Phases
from stratus.node.v1 import node_service_pb2 as pb
from stratus_common import faults

LOG = logging.getLogger(__name__)
# Commands that leave every guest's devices as they were.
READ_ONLY_ACTIONS = ("console_output", "snapshot")
DEFAULT_CONSOLE_BYTES = 64 * 1024
SNAPSHOT_CHUNK_BYTES = 1024 * 1024
# (command id, image id, the data) -> sent: the agent's upload through its controller.
SnapshotSink = Callable[[str, str, AsyncIterator[bytes]], Awaitable[None]]


async def _read_file(path: str) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, SNAPSHOT_CHUNK_BYTES):
            faults.point("snapshot.uploading")
            yield chunk
    finally:
        f.close()


class CommandFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Executor:
    def __init__(
        self,
        driver: ComputeDriver,
        cache: ImageCache,
        journal: Journal,
        *,
        concurrency: int = 4,
        fetcher: ImageFetcher | None = None,
        on_guests_changed: Callable[[], None] | None = None,
        scratch: str | None = None,
    ):
        """`on_guests_changed` is called after a command that may have made or removed a
        guest's network interfaces ran (the network wiring plugs or forgets them)."""
        self.driver = driver
        self.scratch = scratch  # where snapshots are written before they are sent
        self.cache = cache
        self.fetcher = fetcher or ImageFetcher(cache)
        self.journal = journal
        self.on_guests_changed = on_guests_changed
        self._slots = asyncio.Semaphore(concurrency)
        self._instance_locks: dict[str, asyncio.Lock] = {}
        self._running: dict[str, asyncio.Future] = {}

    async def execute(
        self, command: pb.Command, images: ImageSource, snapshots: SnapshotSink | None = None
    ) -> pb.CommandResult:
        """The command's result; a command id seen before is not run again. `images` brings
        a spawn's images, `snapshots` takes a snapshot's data away."""
        action = command.WhichOneof("action")
        LOG.info(
            "command %s: %s of %s (request %s)",
            command.command_id,
            action or "unknown",
            command.instance_id,
            command.request_id or "-",
        )
        if action is None:
            return convert.result(
                command.command_id,
                pb.COMMAND_STATUS_REJECTED,
                error_code="UNKNOWN_COMMAND",
                error_message="this agent does not know the command",
            )
        if action == "console_output":  # a read: nothing to do at most once
            return await self._locked(command, lambda: self._console(command))
        running = self._running.get(command.command_id)
        if running is not None:  # sent again while it still runs here
            return await asyncio.shield(running)
        prior = self.journal.receive(command.command_id, command.instance_id)
        faults.point("command.received")
        if prior is not None and prior.state == DONE and prior.result is not None:
            return pb.CommandResult.FromString(prior.result)
        if prior is not None and prior.state != QUEUED:
            return await self._locked(command, lambda: self._interrupted(command, action))
        # New, or queued by an agent run that stopped before its turn came: it runs now.
        future = asyncio.get_running_loop().create_future()
        self._running[command.command_id] = future
        try:
            result = await self._locked(
                command, lambda: self._start(command, action, images, snapshots)
            )
            self.journal.finish(command.command_id, result.SerializeToString())
            faults.point("result.recorded")
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._running[command.command_id]

    def instance_lock(self, uuid: str) -> asyncio.Lock:
        """Held while a command for `uuid` runs; the agent takes it to read a power state
        that no command of this instance is changing at that moment."""
        return self._instance_locks.setdefault(uuid, asyncio.Lock())

    async def _locked(self, command: pb.Command, work):
        async with self.instance_lock(command.instance_id), self._slots:
            return await work()

    async def _start(
        self,
        command: pb.Command,
        action: str,
        images: ImageSource,
        snapshots: SnapshotSink | None,
    ):
        """Runs with the slot held: only now is the command `started` in the journal."""
        self.journal.start(command.command_id)
        faults.point("command.started")
        return await self._run(command, action, images, snapshots)

    async def _info(self, uuid: str):
        try:
            return await asyncio.to_thread(self.driver.get_info, uuid)
        except InstanceNotFound:
            return None

    async def _run(
        self,
        command: pb.Command,
        action: str,
        images: ImageSource | None,
        snapshots: SnapshotSink | None = None,
    ):
        uuid = command.instance_id
        try:
            if action == "spawn":
                info = await self._spawn(command, command.spawn, images)
            elif action == "rebuild":
                # Once begun, a rebuild never leaves the old guest: interrupted, it is gone.
                await asyncio.to_thread(self.driver.destroy, uuid)
                faults.point("rebuild.destroyed")
                info = await self._spawn(command, command.rebuild.spawn, images)
            elif action == "power":
                info = await self._power(uuid, command.power)
            elif action == "destroy":
                await asyncio.to_thread(self.driver.destroy, uuid)
                info = None
            elif action == "snapshot":
                info = await self._send_disk(
                    command, command.snapshot.image_id, self.driver.snapshot, snapshots
                )
            elif action == "resize_out":
                await self._send_disk(
                    command, command.resize_out.image_id, self.driver.resize_out, snapshots
                )
                faults.point("resize.disk_sent")
                await asyncio.to_thread(self.driver.set_aside, uuid)
                info = None
            elif action == "confirm_resize":
                await asyncio.to_thread(self.driver.confirm_resize, uuid)
                info = await self._info(uuid)
            elif action == "revert_resize":
                info = await asyncio.to_thread(
                    self.driver.revert_resize, uuid, command.revert_resize.start
                )
            else:
                raise CommandFailed("UNKNOWN_COMMAND", f"unknown action {action}")
            if action not in READ_ONLY_ACTIONS and self.on_guests_changed is not None:
                self.on_guests_changed()
            return convert.result(command.command_id, pb.COMMAND_STATUS_SUCCEEDED, info)
        except CommandFailed as failure:
            code, message = failure.code, str(failure)
        except InstanceNotFound as exc:
            code, message = "INSTANCE_NOT_FOUND", str(exc) or f"instance {uuid} is not here"
        except InvalidState as exc:
            code, message = "INVALID_STATE", str(exc)
        except InvalidSpec as exc:
            code, message = "INVALID_SPEC", str(exc)
        except DriverError as exc:
            code, message = "HYPERVISOR_ERROR", str(exc)
        except Exception as exc:  # an OS error, a libvirt surprise: still an answer
            LOG.exception("command %s (%s of %s) failed", command.command_id, action, uuid)
            code, message = "HYPERVISOR_ERROR", f"{exc.__class__.__name__}: {exc}"
        LOG.warning(
            "command %s (%s of %s) failed: %s %s", command.command_id, action, uuid, code, message
        )
        return convert.result(
            command.command_id, pb.COMMAND_STATUS_FAILED, await self._info(uuid), code, message
        )

    async def _spawn(self, command: pb.Command, spec: pb.SpawnAction, images: ImageSource):
        existing = await self._info(command.instance_id)
        if existing is not None:  # spawned already: report what exists, never boot twice
            return existing
        refs = {
            "root": spec.image if spec.HasField("image") else None,
            "kernel": spec.kernel if spec.HasField("kernel") else None,
            "ramdisk": spec.ramdisk if spec.HasField("ramdisk") else None,
        }
        deadline = self.fetcher.deadline(
            command.expires_at.ToSeconds() if command.HasField("expires_at") else None
        )
        files = {}
        phases = Phases()
        for role, ref in refs.items():
            if ref is None or not ref.image_id:
                files[role] = None
                continue
            with phases.timed("fetch"):
                cached = await self._fetch(ref, images, deadline)
            files[role] = ImageFile(image_id=ref.image_id, disk_format=cached.disk_format)
        LOG.info("images of %s ready: %s", command.instance_id, phases.fields())
        instance = InstanceSpec(
            uuid=command.instance_id,
            name=spec.name,
            vcpus=spec.vcpus,
            memory_mb=spec.memory_mb,
            disk_gb=spec.disk_gb,
            root_disk=files["root"],
            kernel=files["kernel"],
            ramdisk=files["ramdisk"],
            cmdline=spec.kernel_cmdline or None,
            metadata=dict(spec.metadata),
            guest=convert.guest(spec.guest),
            nics=convert_network.nics(spec.ports),
        )
        try:
            return await asyncio.to_thread(self.driver.spawn, instance)
        except InstanceExists:
            return await self._info(command.instance_id)

    async def _fetch(self, ref: pb.ImageRef, images: ImageSource, deadline: float):
        try:
            return await self.fetcher.fetch(
                ref.image_id,
                images,
                multihash=ref.os_hash_value,
                disk_format=ref.disk_format,
                deadline=deadline,
            )
        except ImageRejected as exc:
            raise CommandFailed("IMAGE_REJECTED", str(exc)) from exc
        except FetchGaveUp as exc:
            raise CommandFailed("IMAGE_UNAVAILABLE", str(exc)) from exc
        except ImageCacheError as exc:
            raise CommandFailed("IMAGE_UNAVAILABLE", str(exc)) from exc
        except grpc.aio.AioRpcError as exc:
            code = (
                "IMAGE_NOT_FOUND"
                if exc.code() == grpc.StatusCode.NOT_FOUND
                else "IMAGE_UNAVAILABLE"
            )
            raise CommandFailed(
                code, f"could not fetch image {ref.image_id}: {exc.details()}"
            ) from exc
        except Exception as exc:  # the stream that carries the bytes failed
            raise CommandFailed(
                "IMAGE_UNAVAILABLE", f"could not fetch image {ref.image_id}: {exc}"
            ) from exc

    async def _send_disk(
        self,
        command: pb.Command,
        image_id: str,
        write_disk: Callable[[str, str], None],
        snapshots: SnapshotSink | None,
    ):
        """`write_disk(uuid, path)` (a snapshot, a resize's disk) sent into `image_id`."""
        if snapshots is None:
            raise CommandFailed("UNKNOWN_COMMAND", "this agent cannot send disks")
        if self.scratch:
            os.makedirs(self.scratch, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch, prefix="disk-") as directory:
            path = os.path.join(directory, "disk.qcow2")
            await asyncio.to_thread(write_disk, command.instance_id, path)
            try:
                await snapshots(command.command_id, image_id, _read_file(path))
            except grpc.aio.AioRpcError as exc:
                raise CommandFailed(
                    "SNAPSHOT_UPLOAD_FAILED",
                    f"sending the snapshot failed: {exc.code().name} {exc.details()}",
                ) from exc
            except ConnectionError as exc:
                raise CommandFailed("SNAPSHOT_UPLOAD_FAILED", str(exc)) from exc
        return await self._info(command.instance_id)

    async def _power(self, uuid: str, power: pb.PowerAction):
        name, args = convert.OPERATIONS.get(power.operation, (None, ()))
        if name is None:
            raise CommandFailed("UNKNOWN_COMMAND", "unknown power operation")
        if name == "stop" and power.HasField("shutdown_timeout_seconds"):
            args = (float(power.shutdown_timeout_seconds),)
        return await asyncio.to_thread(getattr(self.driver, name), uuid, *args)

    async def _console(self, command: pb.Command) -> pb.CommandResult:
        try:
            out = await asyncio.to_thread(
                self.driver.console_output,
                command.instance_id,
                command.console_output.max_bytes or DEFAULT_CONSOLE_BYTES,
            )
        except InstanceNotFound as exc:
            return convert.result(
                command.command_id, pb.COMMAND_STATUS_FAILED, None, "INSTANCE_NOT_FOUND", str(exc)
            )
        result = convert.result(command.command_id, pb.COMMAND_STATUS_SUCCEEDED)
        result.console_output = out.text
        result.console_truncated = out.truncated
        return result

    async def _interrupted(self, command: pb.Command, action: str) -> pb.CommandResult:
        """The agent stopped while this command ran. Not run again: report what exists; a
        spawn whose guest is not running (never defined, or defined and not started, its
        config drive perhaps unwritten) is cleaned up first (guest, disks, cache references).
        A destroy is finished instead: destroying twice does no harm, and the stopped agent
        may have left the guest, its disks or its image references behind."""
        if action == "destroy":
            result = await self._run(command, action, None)
            self.journal.finish(command.command_id, result.SerializeToString())
            return result
        info = await self._info(command.instance_id)
        if action == "spawn" and info is not None and info.power_state == PowerState.RUNNING:
            result = convert.result(command.command_id, pb.COMMAND_STATUS_SUCCEEDED, info)
        else:
            # A rebuild's guest may be the old one or a new one half made: either way the
            # server goes to ERROR, and only a guest that runs is kept, for a rebuild again.
            running = info is not None and info.power_state == PowerState.RUNNING
            if action == "spawn" or (action == "rebuild" and not running):
                await asyncio.to_thread(self.driver.destroy, command.instance_id)
                info = None
            result = convert.result(
                command.command_id,
                pb.COMMAND_STATUS_INTERRUPTED,
                info,
                "INTERRUPTED",
                "the agent stopped while it ran",
            )
        self.journal.finish(command.command_id, result.SerializeToString())
        return result
