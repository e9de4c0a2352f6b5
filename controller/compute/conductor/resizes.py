"""Resizes as the conductor drives them (docs/adr/0015-day-2-operations.md), each step a
function run in one write transaction, its node command written with the state change:

    ResizeServer   task resize_prep: the new flavor is claimed (ResizeTarget, in the claim)
    claimed        the disk's transfer image made; resize_out to the source  (resize_migrating)
    resize_out ok  spawn on the destination from the transfer image          (resize_finish)
    spawn ok       VERIFY_RESIZE, both allocations held                      (migration finished)
    confirm        confirm_resize to the source: the old guest and allocation go
    revert         the new guest destroyed, revert_resize to the source: the old flavor, host
                   and allocation come back (also after a failed spawn on the destination)

A step that fails before the server left its source rolls back to the server as it was."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from controller.compute.conductor import commands, outbox, spawns
from controller.compute.conductor.config import ConductorSection
from controller.compute.conductor.models import NodeCommand
from controller.compute.records import actions, host_cleanup, lifecycle, migrations, states
from controller.compute.records.models import ComputeNode, Instance, Migration
from controller.db.database import locked
from controller.db.queries import utcnow
from controller.image.port import ImagePort, SnapshotRequest
from controller.network.port import NetworkPort

log = logging.getLogger(__name__)


@dataclass
class Discards:
    """Images to delete once the transaction commits (a resize's disk in transit)."""

    image_ids: list[str] = field(default_factory=list)


def _action(migration: Migration) -> str:
    """The instance action of the migration: resize, or migrate (a cold migration)."""
    return "migrate" if migration.kind == migrations.COLD else "resize"


def _hostname(node_id: str | None) -> str:
    node = ComputeNode.get_or_none(ComputeNode.id == node_id) if node_id else None
    return node.hostname if node else ""


class ResizeTarget:
    """The claim target of a resize: the claim of the new flavor writes the next step."""

    def __init__(self, settings: ConductorSection, port: ImagePort):
        self.settings, self.port = settings, port

    def waiting(self, instance_ids: list[str]) -> set[str]:
        return {
            row.id
            for row in locked(
                Instance.select(Instance.id).where(
                    Instance.id.in_(instance_ids),
                    Instance.deleted_at.is_null(),
                    Instance.task_state == states.RESIZE_PREP,
                )
            )
        }

    def record(self, placed: list[tuple[str, str, str]]) -> None:
        for instance_id, node_id, host in placed:
            claimed(self.settings, self.port, instance_id, node_id, host)


def claimed(
    settings: ConductorSection, port: ImagePort, instance_id: str, node_id: str, host: str
) -> None:
    inst = Instance.get_by_id(instance_id)
    migration = migrations.current(instance_id)
    assert migration is not None  # the resize's task is set with its migration
    image_id = port.create_snapshot(
        SnapshotRequest(
            project_id=inst.project_id,
            name=f"{inst.name}-resize-{migration.id[:8]}",
            instance_id=inst.id,
            base_image_id=inst.image_id,
            min_disk_gb=int(migration.old_flavor["disk_gb"]),
            metadata={"migration_id": migration.id},
        )
    )
    migrations.advance(
        migration.id, migrations.MIGRATING, dest_node_id=node_id, transfer_image_id=image_id
    )
    outbox.enqueue(
        migration.source_node_id,
        instance_id,
        commands.resize_out(image_id),
        actions.latest_request_id(instance_id),
        settings.snapshot_timeout,
    )
    lifecycle.change(instance_id, task_state=states.RESIZE_MIGRATING)
    actions.event(instance_id, _action(migration), "schedule", actions.SUCCESS, host)


def _back_to_source(inst: Instance, migration: Migration, **values) -> None:
    lifecycle.change(
        inst.id,
        host=_hostname(migration.source_node_id),
        node_id=migration.source_node_id,
        **migration.old_flavor,
        **values,
    )


def roll_back(
    db, settings: ConductorSection, instance_id: str, message: str, power: str | None = None
) -> Discards:
    """The resize ends before the server left its source: as it was, the action failed (a
    guest the source powered off for it is SHUTOFF)."""
    discards = Discards()
    inst = Instance.get_or_none(Instance.id == instance_id)
    migration = migrations.current(instance_id)
    if inst is None or migration is None:
        return discards
    migrations.revert(migration, migrations.ERROR)
    values: dict = {"task_state": None}
    if power and power != states.RUNNING:
        values.update(power_state=power, vm_state=states.STOPPED)
    _back_to_source(inst, migration, **values)
    actions.finish(instance_id, _action(migration), actions.ERROR, message)
    log.warning("resize of server %s rolled back: %s", instance_id, message)
    if migration.transfer_image_id:
        ImagePort.kill_snapshot(migration.transfer_image_id)
        discards.image_ids.append(migration.transfer_image_id)
    return discards


def start_revert(settings: ConductorSection, inst: Instance, migration: Migration) -> None:
    """The new guest is destroyed where it was made and the old one defined again: the
    server is back on its source (its commands go there) from now on."""
    request_id = actions.latest_request_id(inst.id)
    _back_to_source(inst, migration, task_state=states.RESIZE_REVERTING)
    dest = migration.dest_node_id
    if dest and dest != migration.source_node_id:  # on one host, revert_resize does both
        host_cleanup.remember(inst.id, dest, host_cleanup.REVERTED)
        outbox.enqueue(dest, inst.id, commands.destroy(), request_id, settings.command_timeout)
    outbox.enqueue(
        migration.source_node_id,
        inst.id,
        commands.revert_resize(migration.prior_vm_state == states.ACTIVE),
        request_id,
        settings.command_timeout,
    )


def send_confirm(settings: ConductorSection, inst: Instance) -> None:
    migration = migrations.current(inst.id)
    assert migration is not None  # a RESIZED server has its migration
    outbox.enqueue(
        migration.source_node_id,
        inst.id,
        commands.confirm_resize(),
        actions.latest_request_id(inst.id),
        settings.command_timeout,
    )


def send_revert(settings: ConductorSection, inst: Instance) -> None:
    migration = migrations.current(inst.id)
    assert migration is not None
    start_revert(settings, inst, migration)


def applied(
    settings: ConductorSection,
    port: ImagePort,
    network: NetworkPort,
    command: NodeCommand,
    inst: Instance,
    ok: bool,
    power: str | None,
    addresses: dict | None,
    message: str,
) -> Discards | None:
    """A node's answer to a step of a resize; None when `command` is no step of one."""
    migration = migrations.current(inst.id)
    if migration is None:
        return None
    kind, task = command.kind, inst.task_state
    if kind == "resize_out" and task == states.RESIZE_MIGRATING:
        if not ok and power is None:  # set aside already (an agent stopped after it)
            migrations.advance(migration.id, migrations.MIGRATING)
            start_revert(settings, inst, migration)
            return Discards()
        if not ok:
            return roll_back(None, settings, inst.id, message, power)
        _finish_on_destination(settings, port, network, inst, migration)
        return Discards()
    if kind == "spawn" and task == states.RESIZE_FINISH:
        if ok:
            migrations.advance(migration.id, migrations.FINISHED)
            lifecycle.change(
                inst.id,
                vm_state=states.RESIZED,
                task_state=None,
                power_state=power or states.RUNNING,
                addresses=addresses or inst.addresses,
            )
            actions.finish(inst.id, _action(migration), actions.SUCCESS)
        else:
            actions.event(
                inst.id,
                _action(migration),
                "finish_resize",
                actions.ERROR,
                _hostname(command.node_id),
            )
            start_revert(settings, inst, migration)
        return Discards()
    if kind == "confirm_resize" and task == states.RESIZE_CONFIRMING:
        return _confirmed(inst, migration, ok, message)
    if kind == "revert_resize" and task == states.RESIZE_REVERTING:
        return _reverted(inst, migration, ok, power, message)
    return None


def _finish_on_destination(
    settings: ConductorSection,
    port: ImagePort,
    network: NetworkPort,
    inst: Instance,
    migration: Migration,
) -> None:
    dest = migration.dest_node_id
    assert dest is not None and migration.transfer_image_id is not None
    migrations.advance(migration.id, migrations.FINISHING)
    lifecycle.change(inst.id, host=_hostname(dest), node_id=dest, task_state=states.RESIZE_FINISH)
    actions.event(
        inst.id,
        _action(migration),
        "migrate_disk",
        actions.SUCCESS,
        _hostname(migration.source_node_id),
    )
    (spawn,) = spawns.spawns(
        port, network, [(inst.id, dest)], {inst.id: migration.transfer_image_id}
    )
    outbox.enqueue(*spawn, settings.spawn_timeout)


def _failed(inst: Instance, action: str, message: str) -> None:
    """A confirm or a revert failed on its host: ERROR, with the host's word as the fault."""
    lifecycle.change(
        inst.id,
        vm_state=states.ERROR,
        task_state=None,
        fault_code=500,
        fault_message=message[:255],
        fault_time=utcnow(),
    )
    actions.finish(inst.id, action, actions.ERROR, message)


def _confirmed(inst: Instance, migration: Migration, ok: bool, message: str) -> Discards:
    discards = Discards()
    if not ok:
        _failed(inst, "confirm_resize", message)
        return discards
    migrations.confirm(migration)
    running = inst.power_state == states.RUNNING
    lifecycle.change(
        inst.id, vm_state=states.ACTIVE if running else states.STOPPED, task_state=None
    )
    actions.finish(inst.id, "confirm_resize", actions.SUCCESS)
    if migration.transfer_image_id:
        discards.image_ids.append(migration.transfer_image_id)
    return discards


def _reverted(
    inst: Instance, migration: Migration, ok: bool, power: str | None, message: str
) -> Discards:
    discards = Discards()
    if not ok:
        _failed(inst, "revert_resize", message)
        return discards
    migrations.revert(migration)
    lifecycle.change(
        inst.id,
        vm_state=migration.prior_vm_state,
        task_state=None,
        power_state=power or inst.power_state,
    )
    actions.finish(inst.id, "revert_resize", actions.SUCCESS)
    # the resize's own action, when the revert followed a failure on the destination
    actions.finish(inst.id, _action(migration), actions.ERROR, "reverted")
    if migration.transfer_image_id:
        discards.image_ids.append(migration.transfer_image_id)
    return discards


def timed_out(
    settings: ConductorSection, command: NodeCommand, inst: Instance, message: str
) -> Discards | None:
    """A step of a resize without an answer: rolled back while the server has not left its
    source, reverted when the destination failed to build it, else ERROR."""
    migration = migrations.current(inst.id)
    if migration is None:
        return None
    if command.kind == "resize_out":
        return roll_back(None, settings, inst.id, message)
    if command.kind == "spawn" and inst.task_state == states.RESIZE_FINISH:
        start_revert(settings, inst, migration)
        return Discards()
    if command.kind in ("confirm_resize", "revert_resize"):
        _failed(inst, command.kind, message)
        return Discards()
    return None


@dataclass(frozen=True)
class _Controller:
    """The actor of what the controller does on its own (an automatic confirm)."""

    project_id: str
    user_id: str = ""
    request_id: str = ""


def auto_confirm(db, settings: ConductorSection, instance_id: str) -> str | None:
    """Confirms a resize that waited past [resize] resize_confirm_window; the node to wake."""
    rows = locked(Instance.select().where(Instance.id == instance_id))
    inst = rows[0] if rows else None
    if inst is None or inst.vm_state != states.RESIZED or inst.task_state is not None:
        return None
    lifecycle.change(instance_id, task_state=states.RESIZE_CONFIRMING)
    actions.start(instance_id, "confirm_resize", _Controller(inst.project_id))
    send_confirm(settings, inst)
    migration = Migration.get(
        Migration.instance_id == instance_id, Migration.status == migrations.FINISHED
    )
    return migration.source_node_id
