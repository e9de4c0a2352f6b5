"""Allocations: what each placed server holds on its host, one row per server (its primary
key). The scheduler's claims write them; deletes and failed builds free them."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, cast

import peewee

from controller.compute.records.models import Allocation, ServerGroupMember
from controller.compute.records.statements import OVER_IDS
from controller.db import statements
from controller.db.queries import utcnow


def row(
    instance_id: str,
    node_id: str,
    project_id: str,
    vcpus: int,
    memory_mb: int,
    disk_gb: int,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """An allocation's row, for add_many."""
    return dict(
        instance_id=instance_id,
        node_id=node_id,
        project_id=project_id,
        vcpus=vcpus,
        memory_mb=memory_mb,
        disk_gb=disk_gb,
        created_at=now or utcnow(),
    )


def add(values: dict[str, Any]) -> None:
    """Raises peewee.IntegrityError when the server holds one already."""
    statements.insert(Allocation, values)


def add_many(rows: list[dict[str, Any]]) -> None:
    statements.insert_rows(Allocation, rows)


def used_on(node_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """node id -> (vcpus, memory_mb, disk_gb) allocated there, for the hosts that have any."""
    return {
        r[0]: (int(r[1]), int(r[2]), int(r[3]))
        for r in OVER_IDS.execute("used", node_ids).fetchall()
    }


def group_members_per_node(group_id: str) -> dict[str, int]:
    """node id -> members of the server group allocated there."""
    rows = cast(
        Iterable[tuple[str, int]],
        (
            Allocation.select(Allocation.node_id, peewee.fn.COUNT(Allocation.instance_id))
            .join(ServerGroupMember, on=(ServerGroupMember.instance_id == Allocation.instance_id))
            .where(ServerGroupMember.group_id == group_id)
            .group_by(Allocation.node_id)
            .tuples()
        ),
    )  # rows as tuples, which the stubs cannot say
    return dict(rows)


def release(instance_id: str) -> bool:
    """Frees a server's allocation (deleted, or failed to spawn). True if there was one."""
    return release_many([instance_id]) > 0


def release_many(instance_ids: list[str]) -> int:
    """release() for many servers; how many allocations there were."""
    deleted: int = (
        Allocation.delete()  # type: ignore[misc] # the stubs' classmethod typing
        .where(Allocation.instance_id.in_(instance_ids))
        .execute()
    )
    return deleted
