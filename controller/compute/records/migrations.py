"""Resizes as Nova records them: a migration row per resize, and the server's two allocations
while it waits for a confirm. At the start the old allocation moves to the migration's id
(Nova's migration consumer), so the claim of the new flavor, on the same host or another,
is a claim like any other; a confirm frees the old one, a revert the new one.

Status: pre-migrating (a host is being chosen) -> migrating (the source sends the disk)
-> finishing (the destination builds the guest) -> finished (VERIFY_RESIZE) -> confirmed, or
reverted; error when it failed on the way."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from controller.compute.records import allocations
from controller.compute.records.models import Allocation, Instance, Migration
from controller.db.database import locked
from controller.db.queries import utcnow

PRE_MIGRATING, MIGRATING, FINISHING = "pre-migrating", "migrating", "finishing"
FINISHED, CONFIRMED, REVERTED, ERROR = "finished", "confirmed", "reverted", "error"
IN_PROGRESS = (PRE_MIGRATING, MIGRATING, FINISHING, FINISHED)
RESIZE, COLD = "resize", "migration"  # kinds: a resize, a cold migration (same flavor)
FLAVOR_COLUMNS = (
    "flavor_id",
    "flavor_name",
    "vcpus",
    "ram_mb",
    "disk_gb",
    "ephemeral_gb",
    "swap_mb",
    "extra_specs",
)


def flavor_of(instance: Instance) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in FLAVOR_COLUMNS}


def start(instance: Instance, new_flavor: dict[str, Any], kind: str = RESIZE) -> Migration:
    """The migration of a server whose row the caller holds; its allocation is now the
    migration's."""
    now = utcnow()
    migration = Migration.create(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        kind=kind,
        status=PRE_MIGRATING,
        source_node_id=instance.node_id,
        old_flavor=flavor_of(instance),
        new_flavor=new_flavor,
        prior_vm_state=instance.vm_state,
        created_at=now,
        updated_at=now,
    )
    Allocation.update(instance_id=migration.id).where(
        Allocation.instance_id == instance.id
    ).execute()
    return migration


def current(instance_id: str) -> Migration | None:
    """The server's migration in progress (locked), if any."""
    rows = locked(
        Migration.select().where(
            Migration.instance_id == instance_id, Migration.status.in_(IN_PROGRESS)
        )
    )
    return rows[0] if rows else None


def advance(migration_id: str, status: str, **values: Any) -> None:
    Migration.update(status=status, updated_at=utcnow(), **values).where(
        Migration.id == migration_id
    ).execute()


def confirm(migration: Migration) -> None:
    """The old allocation is freed: the server keeps the new one."""
    allocations.release(migration.id)
    advance(migration.id, CONFIRMED)


def revert(migration: Migration, status: str = REVERTED) -> None:
    """The new allocation is freed and the old one is the server's again."""
    allocations.release(migration.instance_id)
    Allocation.update(instance_id=migration.instance_id).where(
        Allocation.instance_id == migration.id
    ).execute()
    advance(migration.id, status)


def release_all(instance_id: str) -> None:
    """A deleted server's migrations hold nothing any more."""
    ids = [m.id for m in Migration.select(Migration.id).where(Migration.instance_id == instance_id)]
    if ids:
        allocations.release_many(ids)
        Migration.update(status=ERROR, updated_at=utcnow()).where(
            Migration.id.in_(ids), Migration.status.in_(IN_PROGRESS)
        ).execute()


def waiting_confirm(before: datetime.datetime) -> list[str]:
    """Ids of the servers whose resize has waited for a confirm since before `before`."""
    return [
        m.instance_id
        for m in Migration.select(Migration.instance_id).where(
            Migration.status == FINISHED, Migration.updated_at < before
        )
    ]
