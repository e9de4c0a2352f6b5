"""The conductor's decisions, as plain functions over the database.

Each runs inside one write transaction that the caller opens, so a command is written with
the state change that needs it, and a node's answer is applied together with marking its
command finished (exactly once, whatever arrives twice). The `ensure_*` functions are
idempotent measure-then-act steps: they write a command only when the server's task needs
one and none is live, so the API's call and the periodic sweep can both run them.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from controller.compute.conductor import commands, outbox, resizes, spawns
from controller.compute.conductor.config import ConductorSection
from controller.compute.conductor.convert import InstanceReport, Result
from controller.compute.conductor.models import NodeCommand
from controller.compute.records import (
    actions,
    allocations,
    host_cleanup,
    lifecycle,
    migrations,
    states,
)
from controller.compute.records.models import ComputeNode, Instance
from controller.db.database import locked
from controller.db.queries import utcnow
from controller.image.port import ImagePort
from controller.network.port import NetworkPort

log = logging.getLogger(__name__)

ACTION_TASKS = {a.task_state: a for a in states.ACTIONS.values()}
RESIZE_TASKS = (*states.RESIZING, states.RESIZE_CONFIRMING, states.RESIZE_REVERTING)
MOVING_TASKS = (*RESIZE_TASKS, states.SHELVING)
# Spawn failures that no other host would fix.
NO_RESCHEDULE = {"IMAGE_REJECTED", "IMAGE_NOT_FOUND", "INVALID_SPEC", "UNKNOWN_COMMAND"}


@dataclass
class FollowUp:
    """What the caller does after the transaction commits."""

    reschedule: list[str] = field(default_factory=list)
    wake_nodes: set[str] = field(default_factory=set)
    # images to delete (a resize's disk in transit, no longer needed)
    discard_images: list[str] = field(default_factory=list)


def _lock(db, instance_id: str) -> Instance | None:
    rows = locked(Instance.select().where(Instance.id == instance_id))
    row = rows[0] if rows else None
    return None if row is None or row.deleted_at is not None else row


def fault(instance_id: str, message: str, *conditions, code: int = 500, **values) -> bool:
    return lifecycle.change(
        instance_id,
        *conditions,
        vm_state=states.ERROR,
        task_state=None,
        fault_code=code,
        fault_message=message[:255],
        fault_time=utcnow(),
        **values,
    )


# -- commands --------------------------------------------------------------------------


def spawn_placed(
    settings: ConductorSection,
    port: ImagePort,
    network: NetworkPort,
    placed: list[tuple[str, str]],
) -> None:
    """The spawns for servers, (instance_id, node_id) each, that a claim just moved from
    scheduling to spawning, in the claim's own transaction (which holds their rows): one
    insert for all. A server waiting for a host never has a live spawn, so there is nothing
    to look for first."""
    outbox.enqueue_rows(
        [
            outbox.command(*spawn, settings.spawn_timeout)
            for spawn in spawns.spawns(port, network, placed)
        ]
    )


def ensure_spawn(
    db, settings: ConductorSection, port: ImagePort, network: NetworkPort, instance_id: str
) -> NodeCommand | None:
    """The spawn of a placed server whose command was never written (its request id is its
    latest action's, as for every spawn)."""
    inst = _lock(db, instance_id)
    if inst is None or inst.task_state != states.SPAWNING or not inst.node_id:
        return None
    live = outbox.live_for_instance(instance_id, "spawn")
    if live:
        return live[0]
    (spawn,) = spawns.spawns(port, network, [(instance_id, inst.node_id)])
    return outbox.enqueue(*spawn, settings.spawn_timeout)


def ensure_action(
    db, settings: ConductorSection, instance_id: str, action: states.Action, request_id: str
) -> NodeCommand | None:
    inst = _lock(db, instance_id)
    if inst is None or inst.task_state != action.task_state or not inst.node_id:
        return None
    for command in outbox.live_for_instance(instance_id, "power"):
        if commands.power_action(command.body) == action.name:
            return command
    return outbox.enqueue(
        inst.node_id, instance_id, commands.power(action.name), request_id, settings.command_timeout
    )


def ensure_destroy(
    db, settings: ConductorSection, instance_id: str, request_id: str
) -> NodeCommand | None:
    inst = _lock(db, instance_id)
    if inst is None or inst.task_state != states.DELETING:
        return None
    if not inst.node_id:
        lifecycle.mark_deleted(instance_id)
        return None
    live = {c.node_id: c for c in outbox.live_for_instance(instance_id, "destroy")}
    migration = migrations.current(instance_id)
    aside = migration.source_node_id if migration else None
    if aside and aside != inst.node_id and aside not in live:  # a resize's old guest
        outbox.enqueue(aside, instance_id, commands.destroy(), request_id, settings.command_timeout)
    if inst.node_id in live:
        return live[inst.node_id]
    return outbox.enqueue(
        inst.node_id, instance_id, commands.destroy(), request_id, settings.command_timeout
    )


def disk_command(
    settings: ConductorSection,
    action: states.Action,
    instance: Instance,
    image_id: str,
    request_id: str,
) -> NodeCommand:
    """The command of a server whose task CreateServerImage (a snapshot) or ShelveServer (the
    disk sent as a resize's source sends it, the guest set aside) just set, in its
    transaction."""
    body = commands.resize_out(image_id) if action is states.SHELVE else commands.snapshot(image_id)
    return outbox.enqueue(
        instance.node_id, instance.id, body, request_id, settings.snapshot_timeout
    )


def _shelved(
    settings: ConductorSection,
    command: NodeCommand,
    inst: Instance,
    ok: bool,
    power: str | None,
    message: str,
) -> None:
    """The disk of a server being shelved is saved (its guest set aside, then destroyed with
    what is left of it) and its host freed; or the shelve failed and nothing is saved."""
    if ok:
        outbox.enqueue(
            command.node_id,
            inst.id,
            commands.destroy(),
            command.request_id,
            settings.command_timeout,
        )
        allocations.release(inst.id)
        lifecycle.change(
            inst.id,
            vm_state=states.SHELVED_OFFLOADED,
            task_state=None,
            power_state=states.NOSTATE,
            host=None,
            node_id=None,
        )
        actions.finish(inst.id, "shelve", actions.SUCCESS)
        return
    ImagePort.kill_snapshot(commands.snapshot_image(command.body))
    values: dict = {"task_state": None, "shelved_image_id": None}
    if power and power != states.RUNNING and inst.vm_state == states.ACTIVE:
        values.update(vm_state=states.STOPPED, power_state=power)
    lifecycle.change(inst.id, **values)
    actions.finish(inst.id, "shelve", actions.ERROR, message)


def rebuild_command(
    settings: ConductorSection,
    port: ImagePort,
    network: NetworkPort,
    instance: Instance,
    request_id: str,
) -> NodeCommand:
    """The rebuild of a server whose new image, name and guest data RebuildServer has just
    written, in its transaction: the spawn it would get now, wrapped."""
    (spawn,) = spawns.spawns(port, network, [(instance.id, instance.node_id)])
    return outbox.enqueue(
        instance.node_id,
        instance.id,
        commands.rebuild(spawn.body),
        request_id,
        settings.spawn_timeout,
    )


def may_upload_snapshot(node_id: str, command_id: str, image_id: str) -> bool:
    """Whether the node may send the data of `image_id`: a live snapshot command for it."""
    command = outbox.get(command_id)
    return (
        command is not None
        and command.node_id == node_id
        and command.kind in ("snapshot", "resize_out")
        and command.state in outbox.LIVE
        and commands.snapshot_image(command.body) == image_id
    )


def _snapshot_ended(command: NodeCommand, ok: bool, power: str | None, message: str) -> None:
    """The server's snapshot task is over; a snapshot that failed leaves a killed image, never
    one that looks usable."""
    if not ok:
        ImagePort.kill_snapshot(commands.snapshot_image(command.body))
    values = {"task_state": None}
    if power:
        values["power_state"] = power
    lifecycle.change(command.instance_id, Instance.task_state == states.IMAGE_SNAPSHOT, **values)
    actions.finish(
        command.instance_id,
        "create_image",
        actions.SUCCESS if ok else actions.ERROR,
        "" if ok else message,
    )


def console_command(
    settings: ConductorSection, instance: Instance, max_bytes: int, request_id: str
) -> NodeCommand:
    return outbox.enqueue(
        instance.node_id,
        instance.id,
        commands.console_output(max_bytes),
        request_id,
        settings.console_timeout,
    )


# -- results ---------------------------------------------------------------------------


def _host(node_id: str) -> str:
    node = ComputeNode.get_or_none(ComputeNode.id == node_id)
    return node.hostname if node else node_id


def apply_result(
    db,
    settings: ConductorSection,
    port: ImagePort,
    network: NetworkPort,
    node_id: str,
    result: Result,
) -> FollowUp:
    follow = FollowUp()
    command = outbox.get(result.command_id)
    if command is None or command.node_id != node_id:
        log.warning("result for unknown command %s from node %s", result.command_id, node_id)
        return follow
    stored = result.as_json()
    if command.kind == "console_output":
        stored["console"] = result.console_output
    command = outbox.finish(
        command.id,
        outbox.SUCCEEDED if result.ok else outbox.FAILED,
        stored,
        result.error_code,
        result.error_message,
    )
    if command is None:  # answered twice, or timed out first: applied already
        return follow
    follow.wake_nodes.add(node_id)
    if command.instance_id:
        _clean_up(settings, command, result)
        _apply(db, settings, port, network, command, result, follow)
    return follow


def _clean_up(settings: ConductorSection, command: NodeCommand, result: Result) -> None:
    """A guest its host must not run (records/host_cleanup.py): gone once destroyed; destroyed
    if a command that was already on its way made it run again."""
    instance_id, node_id = command.instance_id, command.node_id
    if instance_id not in host_cleanup.for_node(node_id):
        return
    if command.kind == "destroy" and (result.ok or result.error_code == "INSTANCE_NOT_FOUND"):
        host_cleanup.forget(instance_id, node_id)
    elif command.kind != "destroy":
        _destroy_stale(settings, node_id, instance_id)


def cancel_commands(db, settings: ConductorSection, instance_id: str) -> None:
    """Ends the live commands of a server deleted while its host was down, so none runs when
    the host comes back."""
    for command in outbox.live_for_instance(instance_id):
        outbox.finish(command.id, outbox.FAILED, None, "CANCELLED", "the server was deleted")


def _apply(
    db,
    settings,
    port: ImagePort,
    network: NetworkPort,
    command: NodeCommand,
    result: Result,
    follow: FollowUp,
) -> None:
    instance_id = command.instance_id
    power = result.instance.power_state if result.instance else None
    message = result.error_message or result.error_code or result.status
    inst = Instance.get_or_none(Instance.id == instance_id)
    if command.kind == "snapshot":  # the image ends well or killed, whatever the server
        _snapshot_ended(command, result.ok, power, message)
        return
    if inst is None or inst.deleted_at is not None:
        return  # a reaped domain's server, among others
    if command.kind == "resize_out" and inst.task_state == states.SHELVING:
        _shelved(settings, command, inst, result.ok, power, message)
        return
    if inst.task_state in RESIZE_TASKS:
        addresses = result.instance.addresses if result.instance else None
        step = resizes.applied(
            settings, port, network, command, inst, result.ok, power, addresses, message
        )
        if step is not None:
            follow.discard_images += step.image_ids
            follow.wake_nodes.update(c.node_id for c in outbox.live_for_instance(instance_id))
            return
    if command.kind == "destroy" and inst.node_id != command.node_id:
        return  # a copy on a host the server left (a reverted resize): the server stays
    if command.kind == "spawn":
        if inst.task_state == states.DELETING:
            return  # a destroy follows; the build result no longer matters
        if result.ok:
            lifecycle.build_succeeded(
                instance_id,
                power or states.RUNNING,
                result.instance.addresses if result.instance else None,
            )
            if inst.shelved_image_id:  # unshelved: the saved disk is the guest's now
                lifecycle.change(instance_id, shelved_image_id=None)
                follow.discard_images.append(inst.shelved_image_id)
        elif result.error_code not in NO_RESCHEDULE and inst.attempts < settings.max_build_attempts:
            # An interrupted spawn is safe to try elsewhere: the node removed what it had
            # begun before it answered.
            if lifecycle.unplace_for_reschedule(instance_id, _host(command.node_id)):
                follow.reschedule.append(instance_id)
        else:
            lifecycle.fail_build(
                instance_id, f"build failed on host {_host(command.node_id)}: {message}"
            )
    elif command.kind == "power":
        action = states.ACTIONS[commands.power_action(command.body)]
        lifecycle.action_finished(
            instance_id, action, result.ok, power, "" if result.ok else message
        )
        if result.instance:  # a guest started again may have a new lease
            sync_addresses(inst, result.instance.addresses)
    elif command.kind == "rebuild":
        if result.ok:
            lifecycle.action_finished(instance_id, states.REBUILD, True, power or states.RUNNING)
            sync_addresses(inst, result.instance.addresses if result.instance else {})
        else:
            _rebuild_failed(command, message)
    elif command.kind == "destroy":
        if result.ok or result.error_code == "INSTANCE_NOT_FOUND":
            lifecycle.mark_deleted(instance_id)
        else:
            fault(instance_id, f"delete failed on host {_host(command.node_id)}: {message}")
            actions.finish(instance_id, "delete", actions.ERROR, message)


def apply_timeout(db, settings: ConductorSection, command: NodeCommand) -> FollowUp:
    host = _host(command.node_id)
    message = f"host {host} did not answer the {command.kind} command in time"
    follow = FollowUp()
    if outbox.finish(command.id, outbox.TIMED_OUT, None, "TIMED_OUT", message) is None:
        return follow
    instance_id = command.instance_id
    if command.kind == "snapshot":
        _snapshot_ended(command, False, None, message)
        return follow
    inst = Instance.get_or_none(Instance.id == instance_id) if instance_id else None
    if inst is None or inst.deleted_at is not None:  # a reaped domain's server, among others
        return follow
    log.warning("%s (command %s, server %s)", message, command.id, instance_id)
    if command.kind == "resize_out" and inst.task_state == states.SHELVING:
        _shelved(settings, command, inst, False, None, message)
        return follow
    if inst.task_state in RESIZE_TASKS:
        step = resizes.timed_out(settings, command, inst, message)
        if step is not None:
            follow.discard_images += step.image_ids
            return follow
    if command.kind == "spawn":
        # Not rescheduled: the node may still boot it; the host stays on the server so a
        # delete reaches it.
        if inst.task_state == states.SPAWNING:
            lifecycle.fail_build(instance_id, message)
    elif command.kind == "power":
        lifecycle.action_finished(
            instance_id, states.ACTIONS[commands.power_action(command.body)], False, None, message
        )
    elif command.kind == "destroy":
        fault(instance_id, message)
        actions.finish(instance_id, "delete", actions.ERROR, message)
    elif command.kind == "rebuild":
        _rebuild_failed(command, message)
    return follow


def _rebuild_failed(command: NodeCommand, message: str) -> None:
    """The guest may be gone with its old disk: ERROR, from which a rebuild may be tried again."""
    if fault(
        command.instance_id,
        f"rebuild failed on host {_host(command.node_id)}: {message}",
        Instance.task_state == states.REBUILDING,
    ):
        actions.finish(command.instance_id, "rebuild", actions.ERROR, message)


# -- events and reconciliation ---------------------------------------------------------


def sync_power_state(inst: Instance, power_state: str) -> bool:
    """A power state the hypervisor reported outside our commands (Nova's power sync)."""
    if inst.power_state == power_state:
        return False
    vm_state = None
    if inst.task_state is None:
        if inst.vm_state == states.ACTIVE and power_state in (states.SHUTDOWN, states.CRASHED):
            vm_state = states.STOPPED
        elif inst.vm_state == states.STOPPED and power_state == states.RUNNING:
            vm_state = states.ACTIVE
    return lifecycle.power_state_changed(inst.id, power_state, vm_state)


def sync_addresses(inst: Instance, addresses: dict) -> bool:
    """Addresses the hypervisor reports that the server does not show yet (a DHCP lease that
    came after its spawn). A report without any keeps the last known: a stopped guest has no
    lease, yet keeps its interfaces."""
    if not addresses or addresses == (inst.addresses or {}):
        return False
    return lifecycle.change(inst.id, addresses=addresses)


def apply_event(node_id: str, instance_id: str, power_state: str) -> bool:
    inst = Instance.get_or_none(Instance.id == instance_id)
    if inst is None or inst.deleted_at is not None or inst.node_id != node_id:
        return False
    return sync_power_state(inst, power_state)


@dataclass
class Reconciled:
    lost: list[str] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    unknown: list[dict] = field(default_factory=list)
    reaped: list[str] = field(default_factory=list)


LOST = "instance not found on host"
# What a server whose guest runs again after it was reported lost goes back to.
FOUND_AGAIN = {
    states.RUNNING: states.ACTIVE,
    states.POWER_PAUSED: states.PAUSED,
    states.POWER_SUSPENDED: states.SUSPENDED,
    states.SHUTDOWN: states.STOPPED,
    states.CRASHED: states.STOPPED,
}


def found_again(inst: Instance, power_state: str) -> bool:
    """A server put in ERROR because an inventory lacked its guest, which its host reports
    after all (a wrong inventory, such as a copy of the host's agent had sent): it goes back
    to the state its guest is in."""
    if (
        inst.vm_state != states.ERROR
        or inst.task_state is not None
        or not (inst.fault_message or "").startswith(LOST)
        or power_state not in FOUND_AGAIN
    ):
        return False
    return lifecycle.change(
        inst.id,
        vm_state=FOUND_AGAIN[power_state],
        power_state=power_state,
        fault_code=None,
        fault_message=None,
        fault_time=None,
    )


def reconcile(
    db, settings: ConductorSection, node_id: str, session_id: str, reports: list[InstanceReport]
) -> Reconciled:
    """The node's full inventory against the database (on every hello), on the word of the
    node's established session only: any other stream's inventory changes nothing."""
    outcome = Reconciled()
    held = locked(
        ComputeNode.select(ComputeNode.id).where(
            ComputeNode.id == node_id, ComputeNode.session_id == session_id
        )
    )
    if not held:
        log.warning("inventory of node %s from a session that does not hold it: ignored", node_id)
        return outcome
    reported = {r.instance_id: r for r in reports}
    host = _host(node_id)
    placed = list(
        Instance.select().where(Instance.node_id == node_id, Instance.deleted_at.is_null())
    )
    for inst in placed:
        report = reported.get(inst.id)
        if report is not None:
            if found_again(inst, report.power_state):
                outcome.synced.append(inst.id)
                log.warning(
                    "server %s runs on its host %s after all: %s again",
                    inst.id,
                    host,
                    FOUND_AGAIN[report.power_state],
                )
                continue
            synced = sync_power_state(inst, report.power_state)
            if sync_addresses(inst, report.addresses) or synced:
                outcome.synced.append(inst.id)
            continue
        if inst.vm_state == states.ERROR or outbox.live_for_instance(inst.id, "spawn"):
            continue  # never built here, or its spawn has not run yet
        if inst.task_state in (states.SCHEDULING, states.SPAWNING, *MOVING_TASKS):
            continue  # not built yet, or set aside by a resize or a shelve under way
        if inst.task_state == states.DELETING:
            lifecycle.mark_deleted(inst.id)
            continue
        fault(inst.id, f"{LOST} {host}", power_state=states.NOSTATE)
        outcome.lost.append(inst.id)
    known = {inst.id for inst in placed}
    stale = host_cleanup.for_node(node_id)
    for instance_id in stale.keys() - reported.keys():
        host_cleanup.forget(instance_id, node_id)  # gone from the host already
    for report in reports:
        if report.instance_id in known:
            continue
        if report.instance_id in stale:
            _destroy_stale(settings, node_id, report.instance_id)
            outcome.reaped.append(report.instance_id)
            log.warning(
                "host %s runs guest %s that it must not (%s): destroying it",
                host,
                report.instance_id,
                stale[report.instance_id],
            )
            continue
        outcome.unknown.append(
            {
                "uuid": report.instance_id,
                "name": report.name,
                "power_state": report.power_state,
                "managed": report.managed,
            }
        )
        deleted = Instance.get_or_none(Instance.id == report.instance_id)
        ours_and_deleted = report.managed and (deleted is None or deleted.deleted_at is not None)
        if ours_and_deleted and settings.running_deleted_instance_action == "reap":
            _destroy_stale(settings, node_id, report.instance_id)
            outcome.reaped.append(report.instance_id)
    (ComputeNode.update(unknown_domains=outcome.unknown).where(ComputeNode.id == node_id).execute())
    for entry in outcome.unknown:
        log.warning(
            "host %s runs domain %s (%s) that no server owns; action: %s",
            host,
            entry["uuid"],
            entry["name"] or "foreign",
            "reap" if entry["uuid"] in outcome.reaped else "log",
        )
    for instance_id in outcome.lost:
        log.error("server %s is not on its host %s any more: ERROR", instance_id, host)
    return outcome


def _destroy_stale(settings: ConductorSection, node_id: str, instance_id: str) -> None:
    if not outbox.live_for_instance(instance_id, "destroy"):
        outbox.enqueue(node_id, instance_id, commands.destroy(), "", settings.command_timeout)


# -- sweeps ----------------------------------------------------------------------------


def stuck(settings: ConductorSection, now: datetime.datetime) -> list[tuple[str, str]]:
    """(instance id, task state) of servers whose task has waited past the grace period."""
    tasks = [states.SCHEDULING, states.SPAWNING, states.DELETING, *ACTION_TASKS]
    before = now - datetime.timedelta(seconds=settings.stuck_task_grace)
    return [
        (r.id, r.task_state)
        for r in Instance.select(Instance.id, Instance.task_state).where(
            Instance.deleted_at.is_null(),
            Instance.task_state.in_(tasks),
            Instance.updated_at < before,
        )
    ]
