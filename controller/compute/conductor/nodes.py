"""Compute node records: written from hellos and heartbeats, read for liveness."""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from controller.compute.conductor import replica
from controller.compute.conductor.convert import Resources
from controller.compute.records import liveness
from controller.compute.records.models import ComputeNode
from controller.db.database import locked
from controller.db.queries import utcnow
from stratus_common.errors import FailedPrecondition

UP, DOWN, MAINTENANCE, UNKNOWN = "UP", "DOWN", "MAINTENANCE", "UNKNOWN"


def _resource_columns(res: Resources) -> dict:
    return dict(
        vcpus=res.vcpus,
        memory_mb=res.memory_mb,
        disk_gb=res.disk_gb,
        vcpus_used=res.vcpus_used,
        memory_mb_used=res.memory_mb_used,
        free_memory_mb=res.free_memory_mb,
        disk_gb_free=res.disk_gb_free,
        running_instances=res.running_instances,
    )


@dataclass(frozen=True)
class Session:
    """A stream asking to become its host's session, and what the conductor knows of the
    sessions it holds itself."""

    id: str
    owner: str  # this conductor (replica.new_owner)
    service_down_time: float
    open_here: Callable[[str], bool]  # whether a session id of this owner is still open


def holds(node: ComputeNode, session: Session, now: datetime.datetime) -> bool:
    """Whether another session still holds the node: its stream is open (as far as anyone
    can tell) and its heartbeats arrive. One that has been silent for service_down_time, whose
    stream this replica saw end, or whose controller process has ended, holds nothing."""
    if not node.connected or not node.session_id or node.session_id == session.id:
        return False
    if node.heartbeat_at is None or _age(node, now) > session.service_down_time:
        return False
    if node.session_owner == session.owner:
        return session.open_here(node.session_id)
    return not (node.session_owner and replica.gone(node.session_owner))


def _age(node: ComputeNode, now: datetime.datetime) -> float:
    return (now - node.heartbeat_at).total_seconds()


def register(
    host: str,
    res: Resources,
    *,
    availability_zone: str,
    agent_version: str,
    session: Session,
    host_ip: str = "",
) -> ComputeNode:
    """The node said hello: create or refresh its record and make this stream its session.
    Operator columns (enabled, ratios, forced_down) are left as they are. FailedPrecondition
    (NODE_SESSION_ACTIVE) while another session holds the host: one identity, one stream."""
    now = utcnow()
    rows = locked(ComputeNode.select().where(ComputeNode.hostname == host))
    node = rows[0] if rows else None
    if node is not None and holds(node, session, now):
        wait = max(1, math.ceil(session.service_down_time - _age(node, now)))
        raise FailedPrecondition(
            f"host {host} is already connected (its last heartbeat came "
            f"{_age(node, now):.0f} s ago): another stratus-compute runs with this host's "
            "name and certificate. Stop the copy; a host's session is released when its "
            f"stream ends or after {session.service_down_time:.0f} s without heartbeats",
            reason="NODE_SESSION_ACTIVE",
            host=host,
            retry_after_seconds=wait,
        )
    values = dict(
        availability_zone=availability_zone or "nova",
        heartbeat_at=now,
        architecture=res.architecture,
        hypervisor_type=res.hypervisor_type,
        hypervisor_version=res.hypervisor_version,
        domain_type=res.domain_type,
        cpu_model=res.cpu_model,
        agent_version=agent_version,
        session_id=session.id,
        session_owner=session.owner,
        connected=True,
        updated_at=now,
        **_resource_columns(res),
    )
    if host_ip:
        values["host_ip"] = host_ip
    if node is None:
        return ComputeNode.create(
            id=str(uuid.uuid4()),
            hostname=host,
            enabled=True,
            disabled_reason="",
            memory_mb_reserved=0,
            created_at=now,
            unknown_domains=[],
            **values,
        )
    ComputeNode.update(**values).where(ComputeNode.id == node.id).execute()
    return ComputeNode.get_by_id(node.id)


def heartbeat(node_id: str, session_id: str, res: Resources | None) -> bool:
    """False when another stream has taken over the node (this one is stale)."""
    now = utcnow()
    values = dict(heartbeat_at=now, updated_at=now)
    if res is not None:
        values.update(_resource_columns(res))
    return (
        ComputeNode.update(**values)
        .where(ComputeNode.id == node_id, ComputeNode.session_id == session_id)
        .execute()
    ) > 0


def disconnected(node_id: str, session_id: str) -> None:
    (
        ComputeNode.update(connected=False, updated_at=utcnow())
        .where(ComputeNode.id == node_id, ComputeNode.session_id == session_id)
        .execute()
    )


def is_current(node_id: str, session_id: str) -> bool:
    return (
        ComputeNode.select()
        .where(ComputeNode.id == node_id, ComputeNode.session_id == session_id)
        .exists()
    )


def is_up(node: ComputeNode, now: datetime.datetime, service_down_time: float) -> bool:
    return liveness.is_up(node.heartbeat_at, node.forced_down, now, service_down_time)


def host_status(node: ComputeNode | None, now: datetime.datetime, service_down_time: float) -> str:
    """Nova's server host_status."""
    if node is None:
        return UNKNOWN
    if not is_up(node, now, service_down_time):
        return DOWN
    if not node.enabled:
        return MAINTENANCE
    return UP


def by_host(host: str) -> ComputeNode | None:
    return ComputeNode.get_or_none(ComputeNode.hostname == host)
