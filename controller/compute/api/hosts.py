"""Operator views of compute hosts: services, hypervisors, availability zones."""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from controller import validation
from controller.compute.records.models import Allocation, ComputeNode, Instance
from controller.db.paging import paginate
from controller.db.queries import get_or_not_found, utcnow


@dataclass
class Usage:
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    servers: int = 0


def usage_by_node(node_ids=None) -> dict[str, Usage]:
    query = Allocation.select(
        Allocation.node_id,
        peewee.fn.SUM(Allocation.vcpus),
        peewee.fn.SUM(Allocation.memory_mb),
        peewee.fn.SUM(Allocation.disk_gb),
        peewee.fn.COUNT(1),
    ).group_by(Allocation.node_id)
    if node_ids is not None:
        query = query.where(Allocation.node_id.in_(node_ids))
    return {r[0]: Usage(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in query.tuples()}


def list_nodes(page, host: str = "", hostname_contains: str = ""):
    query = ComputeNode.select()
    if host:
        query = query.where(ComputeNode.hostname == host)
    if hostname_contains:
        query = query.where(ComputeNode.hostname.contains(hostname_contains))
    return paginate(query, page, [ComputeNode.hostname, ComputeNode.id])


def get_node(node_id: str) -> ComputeNode:
    return get_or_not_found(ComputeNode, node_id, "compute_service")


def is_up(up, node_id: str) -> bool:
    """Whether the host is up by `up(heartbeat_at, forced_down)`; a host gone is down."""
    node = ComputeNode.get_or_none(ComputeNode.id == node_id)
    return node is not None and up(node.heartbeat_at, node.forced_down)


def up_and_enabled(up, node_id: str) -> tuple[bool, bool]:
    """(up by `up(heartbeat_at, forced_down)`, enabled) of a host; a host gone is neither."""
    node = ComputeNode.get_or_none(ComputeNode.id == node_id)
    if node is None:
        return False, False
    return bool(up(node.heartbeat_at, node.forced_down)), bool(node.enabled)


def set_enabled(node_id: str, enabled: bool, reason: str = "") -> ComputeNode:
    node = get_node(node_id)
    node.enabled = enabled
    node.disabled_reason = "" if enabled else validation.text("reason", reason, 255)
    node.updated_at = utcnow()
    node.save()
    return node


def servers_on(node_id: str) -> list[tuple[str, str]]:
    return [
        (r.id, r.name)
        for r in Instance.select(Instance.id, Instance.name)
        .where((Instance.node_id == node_id) & Instance.deleted_at.is_null())
        .order_by(Instance.name)
    ]


def statistics(is_up) -> dict:
    nodes = list(ComputeNode.select())
    used = usage_by_node()
    totals = dict(
        count=len(nodes),
        vcpus=0,
        vcpus_used=0,
        memory_mb=0,
        memory_mb_used=0,
        local_gb=0,
        local_gb_used=0,
        running_vms=0,
    )
    for n in nodes:
        u = used.get(n.id, Usage())
        totals["vcpus"] += n.vcpus
        totals["memory_mb"] += n.memory_mb
        totals["local_gb"] += n.disk_gb
        totals["vcpus_used"] += u.vcpus
        totals["memory_mb_used"] += u.memory_mb
        totals["local_gb_used"] += u.disk_gb
        totals["running_vms"] += u.servers
    return totals


def availability_zones(is_up) -> list[tuple[str, bool, list[str]]]:
    """(zone, available, hosts) for every zone that has a host."""
    zones: dict[str, tuple[bool, list[str]]] = {}
    for n in ComputeNode.select().order_by(ComputeNode.availability_zone, ComputeNode.hostname):
        available, hosts = zones.get(n.availability_zone, (False, []))
        hosts.append(n.hostname)
        zones[n.availability_zone] = (
            available or (n.enabled and is_up(n.heartbeat_at, n.forced_down)),
            hosts,
        )
    return [(name, a, h) for name, (a, h) in zones.items()]
