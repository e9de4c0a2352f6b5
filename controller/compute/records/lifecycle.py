"""Every change of a server's state goes through here, in the caller's write transaction, and
bumps the server's revision so WatchServers sees it. The conductor calls these when nodes
report; the API and the scheduler call them for what they decide.

The revision counter is one row updated in the same transaction: its row lock makes
revisions commit in the order they are handed out, so a watcher that has seen revision N can
never later miss a change numbered below N.
"""

from __future__ import annotations

from typing import Any

from controller.compute.records import actions, allocations, migrations, states
from controller.compute.records.models import Instance, RevisionCounter, ServerGroupMember
from controller.compute.records.statements import OVER_IDS, next_revision
from controller.db.database import locked, tell
from controller.db.queries import utcnow

NO_VALID_HOST = "No valid host was found"

# Events told, in the caller's transaction and after the server revision counter, to the
# listeners the controller registered on its Database (controller/db/database.py): the
# network area's (controller/network/port.py). The one inversion of this room: records know
# none of their users, so the user registers itself at start-up.

# The ids of servers that let go of what they held elsewhere (deleted, or failed to build for
# good): their ports are freed.
RELEASED = "servers_released"
# (server id, node id, host) of servers that `change` moved to another host (a resize
# finishing or reverted): their ports follow them there.
MOVED = "servers_moved"


def bump() -> int:
    """The next revision; call inside a write transaction."""
    return next_revision()


def current_revision() -> int:
    return RevisionCounter.get(RevisionCounter.name == "instance").value


def change(instance_id: str, *conditions: Any, **values: Any) -> bool:
    """Updates a live server's columns with a new revision; False if no row matched.

    The server's row is locked before the counter (the lock order: controller/db/database.py)."""
    if not locked(
        Instance.select(Instance.id).where(
            Instance.id == instance_id, Instance.deleted_at.is_null()
        )
    ):
        return False
    values.update(updated_at=utcnow(), revision=bump())
    query = Instance.update(**values).where(
        Instance.id == instance_id, Instance.deleted_at.is_null(), *conditions
    )
    if query.execute() == 0:
        return False
    if values.get("node_id"):
        tell(MOVED, [(instance_id, values["node_id"], values.get("host") or "")])
    return True


def lock_waiting(instance_ids: list[str]) -> set[str]:
    """Locks the rows of those of the servers still waiting for a host (in id order) and
    returns their ids, for a batch of claims."""
    return {
        row[0]
        for row in OVER_IDS.execute("lock_waiting", instance_ids, states.SCHEDULING).fetchall()
    }


def _revisions(instance_ids: list[str]) -> dict[str, int]:
    last = next_revision(len(instance_ids))
    return dict(zip(instance_ids, range(last - len(instance_ids) + 1, last + 1), strict=True))


def _pairs(mapping: dict[str, Any]) -> tuple[Any, ...]:
    """(key, value, key, value, ...): the marks of a CASE id WHEN ? THEN ? list."""
    return tuple(v for pair in mapping.items() for v in pair)


def number(instance_ids: list[str]) -> dict[str, int]:
    """New revisions, in order, for servers written earlier in this transaction (distinct
    ids). Call last: the counter stays locked until commit, and every writer of servers
    waits for it."""
    if not instance_ids:
        return {}
    numbered = _revisions(instance_ids)
    OVER_IDS.execute("number", instance_ids, before=_pairs(numbered))
    return numbered


def placed_many(placed: list[tuple[str, str, str]]) -> None:
    """Claims succeeded: the servers, (instance_id, node_id, host) each, have their hosts.
    Their rows the caller holds and knows to be waiting (lock_waiting); numbered last, all
    at once. Runs in every claim's transaction, hence hand-written statements
    (records/statements.py)."""
    now = utcnow()
    ids = [instance_id for instance_id, _, _ in placed]
    hosts = {instance_id: host for instance_id, _, host in placed}
    OVER_IDS.execute(
        "scheduled", ids, "create", before=(now, actions.SUCCESS, *_pairs(hosts), "schedule")
    )
    nodes = {instance_id: node_id for instance_id, node_id, _ in placed}
    OVER_IDS.execute(
        "placed",
        ids,
        before=(*_pairs(nodes), *_pairs(hosts), *_pairs(_revisions(ids)), states.SPAWNING, now),
    )


def no_valid_host(instance_ids: list[str]) -> None:
    """Those of the servers still waiting for a host go to ERROR: one placed or deleted
    meanwhile (another decider, a delete) is left as it is."""
    fail_builds(sorted(lock_waiting(instance_ids)), NO_VALID_HOST, 500)


def fail_build(instance_id: str, message: str, code: int = 500) -> None:
    fail_builds([instance_id], message, code)


def fail_builds(instance_ids: list[str], message: str, code: int = 500) -> None:
    """The live ones of the servers go to ERROR with a fault; their allocations are freed
    (Nova: no reschedule left, or nothing fits). One statement per table, whatever their
    number; the revision counter last."""
    if not instance_ids:
        return
    allocations.release_many(instance_ids)
    live = [
        row.id
        for row in locked(
            Instance.select(Instance.id)
            .where(Instance.id.in_(sorted(instance_ids)), Instance.deleted_at.is_null())
            .order_by(Instance.id)
        )
    ]
    if live:
        now = utcnow()
        Instance.update(
            vm_state=states.ERROR,
            task_state=None,
            fault_code=code,
            fault_message=message[:255],
            fault_time=now,
            updated_at=now,
        ).where(Instance.id.in_(live)).execute()
    actions.finish_many(instance_ids, "create", actions.ERROR, message)
    for again in ("evacuate", "unshelve"):
        actions.finish_many(instance_ids, again, actions.ERROR, message)
    number(live)
    tell(RELEASED, live)


def build_succeeded(
    instance_id: str, power_state: str = states.RUNNING, addresses: dict[str, Any] | None = None
) -> bool:
    now = utcnow()
    ok = change(
        instance_id,
        Instance.vm_state == states.BUILDING,
        vm_state=states.ACTIVE,
        task_state=None,
        power_state=power_state,
        launched_at=now,
        # A node that reports none keeps the addresses IPAM gave the server's ports.
        **({"addresses": addresses} if addresses else {}),
    )
    if ok:
        actions.finish(instance_id, "create", actions.SUCCESS)
        for again in ("evacuate", "unshelve"):  # built again elsewhere
            actions.finish(instance_id, again, actions.SUCCESS)
    return ok


def unplace_for_reschedule(instance_id: str, host: str) -> bool:
    """A build failed on `host` and will be tried elsewhere: free the claim, back to scheduling."""
    allocations.release(instance_id)
    actions.event(instance_id, "create", "build_on_host", actions.ERROR, host)
    return change(
        instance_id,
        Instance.vm_state == states.BUILDING,
        host=None,
        node_id=None,
        task_state=states.SCHEDULING,
    )


def action_finished(
    instance_id: str,
    action: states.Action,
    ok: bool,
    power_state: str | None = None,
    message: str = "",
) -> bool:
    values: dict[str, str | None] = {"task_state": None}
    if ok:
        values["vm_state"] = action.result_vm_state
    if power_state:
        values["power_state"] = power_state
    done = change(instance_id, Instance.task_state == action.task_state, **values)
    actions.finish(
        instance_id, action.name.split("_")[0], actions.SUCCESS if ok else actions.ERROR, message
    )
    return done


def power_state_changed(instance_id: str, power_state: str, vm_state: str | None = None) -> bool:
    """A hypervisor event outside any action (a guest powered itself off)."""
    values = {"power_state": power_state}
    if vm_state:
        values["vm_state"] = vm_state
    return change(instance_id, **values)


def mark_deleted(instance_id: str) -> bool:
    """The server is gone from its host (or never had one): free everything it held."""
    allocations.release(instance_id)
    migrations.release_all(instance_id)
    (
        ServerGroupMember.delete()  # type: ignore[misc] # the stubs' classmethod typing
        .where(ServerGroupMember.instance_id == instance_id)
        .execute()
    )
    now = utcnow()
    done = change(instance_id, vm_state=states.DELETED, task_state=None, deleted_at=now)
    actions.finish(instance_id, "delete", actions.SUCCESS)
    tell(RELEASED, [instance_id])
    return done
