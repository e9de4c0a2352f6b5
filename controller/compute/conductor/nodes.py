"""Compute node records: written from hellos and heartbeats, read for liveness."""
from __future__ import annotations

import datetime
import uuid

from controller.compute.conductor.convert import Resources
from controller.compute.records.models import ComputeNode
from controller.db.queries import utcnow

UP, DOWN, MAINTENANCE, UNKNOWN = "UP", "DOWN", "MAINTENANCE", "UNKNOWN"


def _resource_columns(res: Resources) -> dict:
    return dict(vcpus=res.vcpus, memory_mb=res.memory_mb, disk_gb=res.disk_gb,
                vcpus_used=res.vcpus_used, memory_mb_used=res.memory_mb_used,
                free_memory_mb=res.free_memory_mb, disk_gb_free=res.disk_gb_free,
                running_instances=res.running_instances)


def register(host: str, res: Resources, *, availability_zone: str, agent_version: str,
             session_id: str, host_ip: str = "") -> ComputeNode:
    """The node said hello: create or refresh its record and make this stream its session.
    Operator columns (enabled, ratios, forced_down) are left as they are."""
    now = utcnow()
    values = dict(
        availability_zone=availability_zone or "nova", heartbeat_at=now,
        architecture=res.architecture, hypervisor_type=res.hypervisor_type,
        hypervisor_version=res.hypervisor_version, domain_type=res.domain_type,
        cpu_model=res.cpu_model, agent_version=agent_version, session_id=session_id,
        connected=True, updated_at=now, **_resource_columns(res))
    if host_ip:
        values["host_ip"] = host_ip
    node = ComputeNode.get_or_none(ComputeNode.hostname == host)
    if node is None:
        return ComputeNode.create(id=str(uuid.uuid4()), hostname=host, enabled=True,
                                  disabled_reason="", memory_mb_reserved=0, created_at=now,
                                  unknown_domains=[], **values)
    ComputeNode.update(**values).where(ComputeNode.id == node.id).execute()
    return ComputeNode.get_by_id(node.id)


def heartbeat(node_id: str, session_id: str, res: Resources | None) -> bool:
    """False when another stream has taken over the node (this one is stale)."""
    now = utcnow()
    values = dict(heartbeat_at=now, updated_at=now)
    if res is not None:
        values.update(_resource_columns(res))
    return (ComputeNode.update(**values)
            .where(ComputeNode.id == node_id, ComputeNode.session_id == session_id)
            .execute()) > 0


def disconnected(node_id: str, session_id: str) -> None:
    (ComputeNode.update(connected=False, updated_at=utcnow())
     .where(ComputeNode.id == node_id, ComputeNode.session_id == session_id).execute())


def is_current(node_id: str, session_id: str) -> bool:
    return ComputeNode.select().where(ComputeNode.id == node_id,
                                      ComputeNode.session_id == session_id).exists()


def is_up(node: ComputeNode, now: datetime.datetime, service_down_time: float) -> bool:
    if node.forced_down or node.heartbeat_at is None:
        return False
    return (now - node.heartbeat_at).total_seconds() <= service_down_time


def host_status(node: ComputeNode | None, now: datetime.datetime,
                service_down_time: float) -> str:
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
