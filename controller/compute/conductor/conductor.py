"""The conductor as the compute API sees it (build, act, delete, console_output; see
docs/dev/compute-contract.md), and its periodic sweeps.

Async glue only: every decision is a function of workflow.py run in one write transaction.
Its collaborators are given to it (controller/compute/service.py builds them): the database,
its settings, the build queue that places servers (placing.py), and the image port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import logging

from controller import logs
from controller.compute.conductor import nodes, outbox, replica, resizes, workflow
from controller.compute.conductor.config import ConductorSection, ResizeSection
from controller.compute.conductor.convert import InstanceReport
from controller.compute.conductor.models import NodeCommand
from controller.compute.conductor.placing import BuildQueue
from controller.compute.records import actions, migrations, states
from controller.compute.records.lifecycle import NO_VALID_HOST
from controller.compute.records.models import ComputeNode, Instance
from controller.compute.scheduler import specs
from controller.compute.scheduler.claims import ServerGone
from controller.compute.scheduler.placement import NoValidHost, Placement
from controller.db.database import Database
from controller.db.queries import utcnow
from controller.image.port import ImagePort
from controller.network.port import NetworkPort
from stratus_common import faults
from stratus_common.errors import FailedPrecondition, NotFound, Unavailable

log = logging.getLogger(__name__)
CONSOLE_MAX_BYTES = 256 * 1024


class Conductor:
    def __init__(
        self,
        db: Database,
        settings: ConductorSection,
        builds: BuildQueue,
        images: ImagePort,
        network: NetworkPort,
        *,
        service_down_time: float,
        max_message_bytes: int,
        placement: Placement | None = None,
        resize_settings: ResizeSection | None = None,
    ):
        self.db = db
        self.placement = placement
        self.resize_settings = resize_settings or ResizeSection()
        self.settings = settings
        self.builds = builds
        self.images = images
        self.network = network
        self.service_down_time = service_down_time
        self.max_message_bytes = max_message_bytes
        self.sessions: dict[str, object] = {}  # node id -> its NodeSession in this process
        # The name this conductor holds node sessions under, and the ids of its open streams.
        self.owner = replica.new_owner()
        self.open_sessions: dict[str, object] = {}  # session id -> its NodeSession
        self._console: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()

    # -- helpers -------------------------------------------------------------------------

    async def txn(self, fn, *args):
        def unit():
            with self.db.write_transaction():
                return fn(self.db, self.settings, *args)

        return await self.db.run(unit)

    def _background(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def is_open(self, session_id: str) -> bool:
        """Whether a session of this conductor still has its stream (a killed agent's stream
        is done before its session has finished closing)."""
        session = self.open_sessions.get(session_id)
        return session is not None and not session.context.done()

    def wake_all(self) -> None:
        """Every stream of this process looks at its outbox and its network wiring now (a
        step that wrote commands for more than one node, or a network change)."""
        for session in self.sessions.values():
            session.wake.set()

    def wake(self, node_id: str | None) -> None:
        session = self.sessions.get(node_id) if node_id else None
        if session is not None:
            session.wake.set()

    # -- the compute API's port ----------------------------------------------------------

    async def build(self, instance_id: str) -> None:
        """Place the server, then spawn it; returns at once."""
        self._background(self._build(instance_id, (), logs.request_id_var.get()))

    async def _build(self, instance_id: str, tried, request_id: str) -> None:
        token = logs.request_id_var.set(request_id)
        try:
            # The spawn is written by the claim's transaction: one write per placement.
            faults.point("claim.before")
            placed = await self.builds.schedule(instance_id, tried)
            if placed is not None:
                faults.point("claim.committed")
                self.wake(placed.node_id)
        finally:
            logs.request_id_var.reset(token)

    async def act(self, instance_id: str, action: states.Action) -> None:
        command = await self.txn(
            workflow.ensure_action, instance_id, action, logs.request_id_var.get()
        )
        if command is not None:
            self.wake(command.node_id)

    async def delete(self, instance_id: str) -> None:
        command = await self.txn(workflow.ensure_destroy, instance_id, logs.request_id_var.get())
        faults.point("destroy.written")
        if command is not None:
            self.wake(command.node_id)

    async def resize(self, instance_id: str, source_host: str, same_host: bool = True) -> None:
        """Claims the new flavor of a server in resize_prep, then the steps follow
        (resizes.py); returns at once. A cold migration (`same_host` False) always leaves
        its host."""
        allowed = same_host and self.resize_settings.allow_resize_to_same_host
        ignore = () if allowed else (source_host,)
        self._background(self._resize(instance_id, ignore, logs.request_id_var.get()))

    async def _resize(self, instance_id: str, ignore: tuple, request_id: str) -> None:
        token = logs.request_id_var.set(request_id)
        target = resizes.ResizeTarget(self.settings, self.images)
        try:
            placed = await self.db.run(
                self.placement.place, lambda: specs.resize_spec(instance_id, ignore), target
            )
            self.wake(await self.db.run(_source_of, instance_id))
            log.info("resize of server %s claimed on %s", instance_id, placed.host)
        except (specs.Gone, ServerGone):
            pass
        except NoValidHost as refused:
            log.warning("no valid host to resize server %s: %s", instance_id, refused.details)
            await self.txn(resizes.roll_back, instance_id, NO_VALID_HOST)
        finally:
            logs.request_id_var.reset(token)

    def resize_sender(self, send):
        """server -> None: a confirm's or revert's command (resizes.send_confirm or
        send_revert), written in the caller's transaction."""
        return functools.partial(send, self.settings)

    async def deleted_locally(self, instance_id: str) -> None:
        """A server deleted (or evacuated) while its host was down: none of its commands may
        run any more (the host destroys its guest when it comes back, records/host_cleanup.py)."""
        await self.txn(workflow.cancel_commands, instance_id)

    def disk_sender(self, action: states.Action, request_id: str):
        """(server, image id) -> None: writes the command of a snapshot or a shelve in the
        caller's transaction (CreateServerImage's, ShelveServer's)."""

        def send(instance: Instance, image_id: str) -> None:
            workflow.disk_command(self.settings, action, instance, image_id, request_id)

        return send

    def rebuild_sender(self, request_id: str):
        """server -> None: writes a rebuild's command in the caller's transaction
        (RebuildServer's), from the server as it now is."""

        def send(instance: Instance) -> None:
            workflow.rebuild_command(self.settings, self.images, self.network, instance, request_id)

        return send

    async def console_output(self, instance_id: str, lines: int) -> str:
        def prepare(db, settings):
            inst = Instance.get_or_none(Instance.id == instance_id)
            if inst is None or inst.deleted_at is not None:
                raise NotFound(f"server {instance_id} not found", reason="SERVER_NOT_FOUND")
            if not inst.node_id:
                raise FailedPrecondition(
                    "the server has no host yet", reason="INVALID_SERVER_STATE"
                )
            node = ComputeNode.get_or_none(ComputeNode.id == inst.node_id)
            if node is None or not nodes.is_up(node, utcnow(), self.service_down_time):
                raise Unavailable("the server's host is down", reason="HOST_DOWN")
            return workflow.console_command(
                settings, inst, CONSOLE_MAX_BYTES, logs.request_id_var.get()
            )

        command = await self.txn(prepare)
        future = asyncio.get_running_loop().create_future()
        self._console[command.id] = future
        self.wake(command.node_id)
        try:
            text = await self._await_console(command.id, future)
        finally:
            self._console.pop(command.id, None)
        if lines > 0:
            text = (
                "\n".join(text.split("\n")[-lines - 1 :])
                if text.endswith("\n")
                else "\n".join(text.split("\n")[-lines:])
            )
        return text

    async def _await_console(self, command_id: str, future: asyncio.Future) -> str:
        # The answer may reach another replica: the database is polled as well.
        deadline = asyncio.get_running_loop().time() + self.settings.console_timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise Unavailable(
                    "the server's host did not send its console output in time",
                    reason="HOST_TIMEOUT",
                )
            try:
                return await asyncio.wait_for(asyncio.shield(future), min(remaining, 0.5))
            except TimeoutError:
                row = await self.db.run(outbox.get, command_id)
                if row is not None and row.state == outbox.SUCCEEDED:
                    return (row.result or {}).get("console", "")
                if row is not None and row.state not in outbox.LIVE:
                    raise Unavailable(
                        f"console output failed: {row.error_message or row.state}",
                        reason="HOST_ERROR",
                    ) from None

    # -- from node sessions --------------------------------------------------------------

    async def on_result(self, node_id: str, result) -> None:
        faults.point("result.received")

        def apply(db, settings):
            reported = result
            if result.instance is not None and result.instance.addresses:
                (instance,) = self.without_port_addresses([result.instance])
                reported = dataclasses.replace(result, instance=instance)
            return workflow.apply_result(db, settings, self.images, self.network, node_id, reported)

        follow = await self.txn(apply)
        faults.point("result.applied")
        future = self._console.get(result.command_id)
        if future is not None and not future.done():
            if result.ok:
                future.set_result(result.console_output)
            else:
                future.set_exception(
                    Unavailable(
                        f"console output failed: {result.error_message or result.error_code}",
                        reason="HOST_ERROR",
                    )
                )
        self._follow(follow)

    def _follow(self, follow: workflow.FollowUp) -> None:
        for node_id in follow.wake_nodes:
            self.wake(node_id)
        for image_id in follow.discard_images:
            self._background(self.images.discard(image_id))
        for instance_id in follow.reschedule:
            self._background(self._reschedule(instance_id))

    async def _reschedule(self, instance_id: str) -> None:
        tried = await self.db.run(tried_hosts, instance_id)
        log.info("rescheduling server %s away from %s", instance_id, ", ".join(tried))
        await self._build(
            instance_id, tuple(tried), await self.db.run(actions.latest_request_id, instance_id)
        )

    def without_port_addresses(self, reports: list[InstanceReport]) -> list[InstanceReport]:
        """A server with ports shows the addresses IPAM gave them, not what its hypervisor
        guesses (the node's report of those servers' addresses is left out)."""
        with_ports = self.network.servers_with_ports(
            [r.instance_id for r in reports if r.addresses]
        )
        return [
            dataclasses.replace(r, addresses={}) if r.instance_id in with_ports else r
            for r in reports
        ]

    # -- sweeps --------------------------------------------------------------------------

    async def sweep_once(self) -> None:
        now = utcnow()
        for command in await self.db.run(outbox.expired, now):
            self._follow(await self.txn(workflow.apply_timeout, command))
        for instance_id, task in await self.db.run(workflow.stuck, self.settings, now):
            await self._unstick(instance_id, task)
        await self.db.run(_purge, now - datetime.timedelta(seconds=self.settings.command_retention))
        window = self.resize_settings.resize_confirm_window
        if window > 0:
            before = now - datetime.timedelta(seconds=window)
            for instance_id in await self.db.run(migrations.waiting_confirm, before):
                self.wake(await self.txn(resizes.auto_confirm, instance_id))

    async def _unstick(self, instance_id: str, task: str) -> None:
        request_id = await self.db.run(actions.latest_request_id, instance_id)
        if task == states.SCHEDULING:
            self._background(self._build(instance_id, (), request_id))
            return
        if task == states.SPAWNING:
            command = await self.txn(workflow.ensure_spawn, self.images, self.network, instance_id)
        elif task == states.DELETING:
            command = await self.txn(workflow.ensure_destroy, instance_id, request_id)
        else:
            command = await self.txn(
                workflow.ensure_action, instance_id, workflow.ACTION_TASKS[task], request_id
            )
        if command is not None:
            self.wake(command.node_id)

    async def sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:  # a database hiccup must not end the sweeps
                log.exception("conductor sweep failed; retrying")
            await asyncio.sleep(self.settings.sweep_interval)

    async def watch_outbox(self) -> None:
        """Wakes this process's node streams that have commands nobody here woke them for:
        written by another replica, or by a transaction whose wake was lost. One query per
        outbox_poll_interval for all streams, so an idle stream costs no query at all. (A
        node another replica has taken over ends its stream here at its next heartbeat.)
        Likewise the network area's change counter: when it moved (a port bound by a
        placement, or a change on another replica) every stream looks at its wiring."""
        network_revision = None
        while True:
            await asyncio.sleep(self.settings.outbox_poll_interval)
            if not self.sessions:
                continue
            try:
                pending, revision = await self.db.run(self._pending_work)
            except Exception:  # a database hiccup: the next round looks again
                log.exception("looking for commands to deliver failed; retrying")
                continue
            if revision != network_revision:
                network_revision = revision
                self.wake_all()
                continue
            for node_id in pending & self.sessions.keys():
                self.wake(node_id)

    def _pending_work(self) -> tuple[set[str], int]:
        return outbox.nodes_with_pending(), self.network.revision()

    async def stop(self, _app=None) -> None:
        for task in list(self._tasks):
            task.cancel()


def _source_of(instance_id: str) -> str | None:
    inst = Instance.get_or_none(Instance.id == instance_id)
    return inst.node_id if inst else None


def tried_hosts(instance_id: str) -> list[str]:
    node_ids = {
        c.node_id
        for c in NodeCommand.select(NodeCommand.node_id).where(
            NodeCommand.instance_id == instance_id, NodeCommand.kind == "spawn"
        )
    }
    return sorted(n.hostname for n in ComputeNode.select().where(ComputeNode.id.in_(node_ids)))


def _purge(before) -> int:
    return outbox.purge(before)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("conductor task failed", exc_info=task.exception())
