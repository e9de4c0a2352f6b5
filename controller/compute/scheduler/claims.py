"""A claim makes a placement durable: the allocation is written in one transaction that first
locks the host's row and re-checks its capacity (and hard group policy) against every
allocation already committed, so concurrent decisions, in this process or in other controller
replicas sharing the database, can never overcommit a host or break an anti-affinity group.

Locking: the server group row first (when a hard policy applies: it serialises the group's
members, whichever hosts they pick), then the host row. On PostgreSQL these are SELECT ... FOR
UPDATE; on SQLite the transaction is BEGIN IMMEDIATE, which holds the one write lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import peewee

from controller.compute.scheduler import capacity, sql
from controller.compute.scheduler.groups import group_violation
from controller.compute.scheduler.host_state import AFFINITY, ANTI_AFFINITY
from controller.compute.scheduler.locks import lock_rows
from controller.compute.scheduler.models import Allocation
from controller.db.queries import utcnow


@dataclass(frozen=True)
class ClaimRequest:
    instance_id: str
    project_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    group_id: str | None = None
    group_policy: str | None = None
    max_server_per_host: int = 1


class ClaimRefused(Exception):
    """The host cannot take the server (any more): try the next candidate."""

    def __init__(self, node_id: str, reason: str):
        super().__init__(f"{node_id}: {reason}")
        self.node_id = node_id
        self.reason = reason


class ServerGone(ClaimRefused):
    """The server was deleted while it was being placed: stop, do not try other hosts."""


def used_on(node_id: str) -> tuple[int, int, int]:
    """(vcpus, memory_mb, disk_gb) allocated on a host, from the committed allocations."""
    row = sql.execute("used", node_id).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def group_members_per_node(group_id: str) -> dict[str, int]:
    """node id -> members of the group allocated there."""
    from controller.compute.api.models import ServerGroupMember
    rows = (Allocation.select(Allocation.node_id, peewee.fn.COUNT(Allocation.instance_id))
            .join(ServerGroupMember, on=(ServerGroupMember.instance_id == Allocation.instance_id))
            .where(ServerGroupMember.group_id == group_id)
            .group_by(Allocation.node_id).tuples())
    return {node_id: count for node_id, count in rows}


def claim(db, hosts, node_id: str, request: ClaimRequest,
          on_claimed: Callable[[str], bool] | None = None) -> None:
    """Writes the allocation or raises ClaimRefused, in one transaction.

    `hosts` is the host records port (host_records.py). `on_claimed(node_id)` runs in the same
    transaction (to record the host on the server); returning False rolls everything back
    (the server was deleted meanwhile)."""
    hard_group = request.group_id and request.group_policy in (AFFINITY, ANTI_AFFINITY)
    with db.write_transaction():
        if hard_group:
            from controller.compute.api.models import ServerGroup
            lock_rows(db, ServerGroup.select(ServerGroup.id)
                      .where(ServerGroup.id == request.group_id))
        record = hosts.lock_capacity(db, node_id)
        if record is None:
            raise ClaimRefused(node_id, "host is gone or disabled")
        vcpus, memory_mb, disk_gb = used_on(node_id)
        current = capacity.Capacity(**{**record.__dict__, "vcpus_used": vcpus,
                                       "memory_mb_used": memory_mb, "disk_gb_used": disk_gb})
        lacking = capacity.shortfalls(current, request.vcpus, request.memory_mb, request.disk_gb)
        if lacking:
            raise ClaimRefused(node_id, "; ".join(lacking))
        if hard_group:
            problem = group_violation(request.group_policy,
                                      group_members_per_node(request.group_id), node_id,
                                      request.max_server_per_host)
            if problem:
                raise ClaimRefused(node_id, problem)
        try:
            sql.execute("allocate", request.instance_id, node_id, request.project_id,
                        request.vcpus, request.memory_mb, request.disk_gb, utcnow())
        except peewee.IntegrityError:
            raise ClaimRefused(node_id, "the server already holds an allocation") from None
        if on_claimed is not None and not on_claimed(node_id):
            raise ServerGone(node_id, "the server was deleted")


def release(instance_id: str) -> bool:
    """Frees a server's allocation (deleted, or failed to spawn). True if there was one."""
    return Allocation.delete().where(Allocation.instance_id == instance_id).execute() > 0
