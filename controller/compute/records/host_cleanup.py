"""Guests a host must destroy when it comes back: a server deleted while its host was down
(Nova's local delete), or rebuilt on another host while it was down (evacuate). The
conductor reads them when the host says hello and destroys those it still runs, whatever
`running_deleted_instance_action` says: the copy is known to be stale."""

from __future__ import annotations

from controller.compute.records.models import HostCleanup
from controller.db.queries import utcnow

DELETED_WHILE_DOWN = "deleted_while_down"
EVACUATED = "evacuated"
REVERTED = "reverted"  # a resize's new guest, on the host the server went back from


def remember(instance_id: str, node_id: str, reason: str) -> None:
    (
        HostCleanup.insert(
            instance_id=instance_id, node_id=node_id, reason=reason, created_at=utcnow()
        )
        .on_conflict_ignore()
        .execute()
    )


def for_node(node_id: str) -> dict[str, str]:
    """instance id -> reason, for the guests `node_id` must not run."""
    return {
        row.instance_id: row.reason
        for row in HostCleanup.select().where(HostCleanup.node_id == node_id)
    }


def forget(instance_id: str, node_id: str) -> None:
    (
        HostCleanup.delete()  # type: ignore[misc] # the stubs' classmethod typing
        .where(HostCleanup.instance_id == instance_id, HostCleanup.node_id == node_id)
        .execute()
    )
