"""A claim makes a placement durable: the allocation is written in one transaction that first
locks the host's row and re-checks its capacity (and hard group policy) against every
allocation already committed, so concurrent decisions, in this process or in other controller
replicas sharing the database, can never overcommit a host or break an anti-affinity group.

Locking: the server group row first (when a hard policy applies: it serialises the group's
members, whichever hosts they pick), then the host row. On PostgreSQL these are SELECT ... FOR
UPDATE; on SQLite the transaction is BEGIN IMMEDIATE, which holds the one write lock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import peewee

from controller.compute.records import allocations
from controller.compute.records.models import ServerGroup
from controller.compute.scheduler import capacity
from controller.compute.scheduler.groups import group_violation
from controller.compute.scheduler.host_state import AFFINITY, ANTI_AFFINITY
from controller.db.database import locked
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


class ClaimTarget(Protocol):
    """What the caller records with a claim, in the claim's own transaction: the one call
    from the scheduler back to its caller (the conductor), so a placement is one write."""

    def waiting(self, instance_ids: list[str]) -> set[str]:
        """Locks the servers' rows (after the hosts': the lock order) and returns those still
        waiting for a host."""

    def record(self, placed: list[tuple[str, str, str]]) -> None:
        """The servers, (instance_id, node_id, host) each, now hold their claims."""


def _current_many(hosts, db, node_ids: list[str]) -> dict[str, capacity.Capacity | None]:
    """Locks the hosts' rows; per host, its capacity with every committed allocation counted
    (None when it is gone or disabled). Two statements, whatever their number."""
    records = hosts.lock_capacities(db, node_ids)
    used = allocations.used_on(node_ids)
    current = {}
    for node_id, record in records.items():
        vcpus, memory_mb, disk_gb = used.get(node_id, (0, 0, 0))
        current[node_id] = (
            None
            if record is None
            else dataclasses.replace(
                record,
                vcpus_used=int(vcpus),
                memory_mb_used=int(memory_mb),
                disk_gb_used=int(disk_gb),
            )
        )
    return current


def claim(
    db,
    hosts,
    node_id: str,
    request: ClaimRequest,
    target: ClaimTarget | None = None,
    host: str = "",
) -> None:
    """Writes the allocation or raises ClaimRefused, in one transaction.

    `hosts` is the host records port (host_records.py). With a `target`, the placement on
    `host` is recorded in the same transaction; a server no longer waiting rolls everything
    back (ServerGone: it was deleted meanwhile)."""
    hard_group = request.group_id and request.group_policy in (AFFINITY, ANTI_AFFINITY)
    with db.write_transaction():
        if hard_group:
            locked(ServerGroup.select(ServerGroup.id).where(ServerGroup.id == request.group_id))
        current = _current_many(hosts, db, [node_id])[node_id]
        if current is None:
            raise ClaimRefused(node_id, "host is gone or disabled")
        lacking = capacity.shortfalls(current, request.vcpus, request.memory_mb, request.disk_gb)
        if lacking:
            raise ClaimRefused(node_id, "; ".join(lacking))
        if hard_group:
            problem = group_violation(
                request.group_policy,
                allocations.group_members_per_node(request.group_id),
                node_id,
                request.max_server_per_host,
            )
            if problem:
                raise ClaimRefused(node_id, problem)
        try:
            allocations.add(_allocation(request, node_id))
        except peewee.IntegrityError:
            raise ClaimRefused(node_id, "the server already holds an allocation") from None
        if target is not None:
            if request.instance_id not in target.waiting([request.instance_id]):
                raise ServerGone(node_id, "the server was deleted")
            target.record([(request.instance_id, node_id, host)])


def _allocation(request: ClaimRequest, node_id: str, now=None) -> dict:
    return allocations.row(
        request.instance_id,
        node_id,
        request.project_id,
        request.vcpus,
        request.memory_mb,
        request.disk_gb,
        now,
    )


@dataclass(frozen=True)
class Pick:
    """One server of a batch and its candidate hosts' node ids, best first."""

    request: ClaimRequest
    node_ids: tuple[str, ...]


# claim_batch's outcome for a server deleted (or placed already) while it was decided
GONE = "gone"


def claim_batch(
    db, hosts, picks: list[Pick], target: ClaimTarget, host_names: dict[str, str]
) -> list[str | None]:
    """Claims a batch of servers without server groups in one transaction: per pick, the
    node id it got, GONE, or None when every candidate was full (the caller places that one
    again). Each host's capacity is re-checked with the committed allocations plus what the
    batch took before it; the target records the placements (on `host_names[node_id]`) in
    the same transaction, once every lock is held.

    Lock order as in claim(): all hosts first, then all servers, both sorted so that batches
    of two controllers cannot wait on each other; the target's record takes the revision
    counter last."""
    with db.write_transaction():
        current = _current_many(hosts, db, sorted({n for pick in picks for n in pick.node_ids}))
        waiting = target.waiting(sorted({pick.request.instance_id for pick in picks}))
        outcomes: list[str | None] = []
        for pick in picks:
            request = pick.request
            if request.instance_id not in waiting:
                outcomes.append(GONE)
                continue
            outcomes.append(_take(current, pick))
        now = utcnow()
        claimed = [
            (pick.request, node_id)
            for pick, node_id in zip(picks, outcomes, strict=True)
            if node_id not in (None, GONE)
        ]
        if claimed:
            allocations.add_many(
                [_allocation(request, node_id, now) for request, node_id in claimed]
            )
            target.record(
                [
                    (request.instance_id, node_id, host_names[node_id])
                    for request, node_id in claimed
                ]
            )
    return outcomes


def _take(current: dict, pick: Pick) -> str | None:
    """The first candidate that still fits the request, its capacity charged; or None."""
    request = pick.request
    for node_id in pick.node_ids:
        host = current[node_id]
        if host is None or capacity.shortfalls(
            host, request.vcpus, request.memory_mb, request.disk_gb
        ):
            continue
        current[node_id] = dataclasses.replace(
            host,
            vcpus_used=host.vcpus_used + request.vcpus,
            memory_mb_used=host.memory_mb_used + request.memory_mb,
            disk_gb_used=host.disk_gb_used + request.disk_gb,
        )
        return node_id
    return None
