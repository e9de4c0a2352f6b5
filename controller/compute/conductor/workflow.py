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

from controller.compute.conductor import commands, outbox, spawns
from controller.compute.conductor.config import ConductorSection
from controller.compute.conductor.convert import InstanceReport, Result
from controller.compute.conductor.models import NodeCommand
from controller.compute.records import actions, lifecycle, states
from controller.compute.records.models import ComputeNode, Instance, InstanceAction
from controller.db.database import locked
from controller.db.queries import utcnow
from controller.image.port import ImagePort
from controller.network.port import NetworkPort

log = logging.getLogger(__name__)

ACTION_TASKS = {a.task_state: a for a in states.ACTIONS.values()}
# Spawn failures that no other host would fix.
NO_RESCHEDULE = {"IMAGE_REJECTED", "IMAGE_NOT_FOUND", "INVALID_SPEC", "UNKNOWN_COMMAND"}


@dataclass
class FollowUp:
    """What the caller does after the transaction commits."""

    reschedule: list[str] = field(default_factory=list)
    wake_nodes: set[str] = field(default_factory=set)


def _lock(db, instance_id: str) -> Instance | None:
    rows = locked(Instance.select().where(Instance.id == instance_id))
    row = rows[0] if rows else None
    return None if row is None or row.deleted_at is not None else row


def latest_request_id(instance_id: str) -> str:
    row = (
        InstanceAction.select(InstanceAction.request_id)
        .where(InstanceAction.instance_id == instance_id)
        .order_by(InstanceAction.id.desc())
        .first()
    )
    return row.request_id if row else ""


def fault(instance_id: str, message: str, code: int = 500, **values) -> bool:
    return lifecycle.change(
        instance_id,
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
    live = outbox.live_for_instance(instance_id, "destroy")
    if live:
        return live[0]
    return outbox.enqueue(
        inst.node_id, instance_id, commands.destroy(), request_id, settings.command_timeout
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


def apply_result(db, settings: ConductorSection, node_id: str, result: Result) -> FollowUp:
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
        _apply(db, settings, command, result, follow)
    return follow


def _apply(db, settings, command: NodeCommand, result: Result, follow: FollowUp) -> None:
    instance_id = command.instance_id
    power = result.instance.power_state if result.instance else None
    message = result.error_message or result.error_code or result.status
    inst = Instance.get_or_none(Instance.id == instance_id)
    if inst is None or inst.deleted_at is not None:
        return  # a reaped domain's server, among others
    if command.kind == "spawn":
        if inst.task_state == states.DELETING:
            return  # a destroy follows; the build result no longer matters
        if result.ok:
            lifecycle.build_succeeded(
                instance_id,
                power or states.RUNNING,
                result.instance.addresses if result.instance else None,
            )
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
    inst = Instance.get_or_none(Instance.id == instance_id) if instance_id else None
    if inst is None or inst.deleted_at is not None:  # a reaped domain's server, among others
        return follow
    log.warning("%s (command %s, server %s)", message, command.id, instance_id)
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
    return follow


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
        if inst.task_state in (states.SCHEDULING, states.SPAWNING):
            continue
        if inst.task_state == states.DELETING:
            lifecycle.mark_deleted(inst.id)
            continue
        fault(inst.id, f"{LOST} {host}", power_state=states.NOSTATE)
        outcome.lost.append(inst.id)
    known = {inst.id for inst in placed}
    for report in reports:
        if report.instance_id in known:
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
            if not outbox.live_for_instance(report.instance_id, "destroy"):
                outbox.enqueue(
                    node_id, report.instance_id, commands.destroy(), "", settings.command_timeout
                )
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
