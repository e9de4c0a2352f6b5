"""Servers as the API sees them: create (quota, idempotency), read, list, update, and the
requests to act on or delete them. Node work is the conductor's; state changes go through
lifecycle.py so every one carries a revision."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from peewee import fn

from controller import validation
from controller.compute.api import flavors, images, keypairs
from controller.compute.records import (
    actions,
    allocations,
    host_cleanup,
    lifecycle,
    migrations,
    states,
)
from controller.compute.records.models import (
    Instance,
    Migration,
    ServerGroup,
    ServerGroupMember,
)
from controller.db import statements
from controller.db.database import locked
from controller.db.paging import paginate
from controller.db.prepared import Param, Prepared
from controller.db.queries import utcnow
from stratus_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    StratusError,
)

MAX_METADATA_ITEMS = 128
# Nova's limit, on the user data once base64-encoded: 49,149 bytes as given.
MAX_USER_DATA_BASE64 = 65535
UPDATABLE = {"name", "metadata"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# A project's live servers, counted in a batch of creates when a quota could be reached.
_USAGE = Prepared(
    lambda: Instance.select(
        fn.COUNT(Instance.id),
        fn.COALESCE(fn.SUM(Instance.vcpus), 0),
        fn.COALESCE(fn.SUM(Instance.ram_mb), 0),
    ).where(Instance.project_id == Param("project_id"), Instance.deleted_at.is_null())
)

# The servers of a project in a resize: their row holds the new flavor, the migration the old.
_RESIZING = Prepared(
    lambda: (
        Instance.select(Instance.vcpus, Instance.ram_mb, Migration.old_flavor)
        .join(Migration, on=(Migration.instance_id == Instance.id), attr="migration")
        .where(
            Instance.project_id == Param("project_id"),
            Instance.deleted_at.is_null(),
            Migration.status.in_(migrations.IN_PROGRESS),
        )
    )
)


@dataclass
class ServerRequest:
    name: str
    flavor_id: str
    image_id: str
    key_name: str = ""
    availability_zone: str = ""
    server_group_id: str = ""
    metadata: dict = field(default_factory=dict)
    user_data: bytes = b""
    config_drive: bool = True  # no metadata service: the config drive is how guests learn


def check_metadata(items: dict, field_name: str = "server.metadata") -> dict:
    if len(items) > MAX_METADATA_ITEMS:
        raise InvalidArgument(field_name, f"at most {MAX_METADATA_ITEMS} items")
    for key, value in items.items():
        if not key or len(key) > 255 or len(value) > 255:
            raise InvalidArgument(field_name, "keys 1-255 characters, values up to 255")
    return dict(items)


def check_request(req: ServerRequest, request_id: str) -> None:
    """Shape checks that need no database, so bad input never costs a transaction."""
    validation.name("server.name", req.name)
    if not req.flavor_id:
        raise InvalidArgument("server.flavor_id", "is required")
    validation.uuid("server.image_id", req.image_id)
    validation.optional_uuid("server.server_group_id", req.server_group_id)
    check_metadata(req.metadata)
    if base64_length(len(req.user_data)) > MAX_USER_DATA_BASE64:
        raise InvalidArgument(
            "server.user_data", f"at most {MAX_USER_DATA_BASE64} bytes once base64-encoded"
        )
    if request_id and not _REQUEST_ID.match(request_id):
        raise InvalidArgument("request_id", "1-128 letters, digits, '.', '_' or '-' (a UUID)")
    if req.availability_zone:
        validation.name("server.availability_zone", req.availability_zone)


def base64_length(size: int) -> int:
    return -(-size // 3) * 4


def _same_request(row: Instance, req: ServerRequest) -> bool:
    return (row.name, row.flavor_id, row.image_id) == (req.name, req.flavor_id, req.image_id)


@dataclass
class NewServer:
    """One CreateServer with its references resolved."""

    caller: object
    req: ServerRequest
    request_id: str
    flavor: object
    image_properties: dict
    key_data: str
    group: object | None = None


def create_many(db, quotas, news: list[NewServer]) -> list:
    """Records new servers in BUILD/scheduling in one transaction. Per server: (server,
    created), where a retry with the same request_id gives the first server and False, or
    the error that refused it (quota, request id reused, group gone), which wrote nothing.

    Every project's row (quota), then every server group's, each in sorted order, is locked
    before anything is written, so batches of two controllers cannot wait on each other and
    the revision counter is taken last. Each table is written with one statement for the
    whole batch: on SQLite the block holds the write lock."""
    with db.write_transaction():
        budgets = {}
        for project_id in sorted({new.caller.project_id for new in news}):
            quotas.lock(project_id)
            budgets[project_id] = quotas.server_budget(project_id)
        group_ids = sorted({new.group.id for new in news if new.group is not None})
        live_groups = (
            {
                row.id
                for row in locked(
                    ServerGroup.select(ServerGroup.id)
                    .where(ServerGroup.id.in_(group_ids))
                    .order_by(ServerGroup.id)
                )
            }
            if group_ids
            else set()
        )
        known = _by_request_id(news)
        results: list = []
        for new in news:
            try:
                results.append(_admit(new, budgets[new.caller.project_id], live_groups, known))
            except StratusError as error:
                results.append(error)
        created = [
            (result[0], new)
            for result, new in zip(results, news, strict=True)
            if isinstance(result, tuple) and result[1]
        ]
        if created:
            _write(created)
        rows = [r[0] for r in results if isinstance(r, tuple)]
        revisions = lifecycle.number(list(dict.fromkeys(r.id for r in rows if not r.revision)))
        for row in rows:  # a retry within the batch answers with its first server's
            row.revision = revisions.get(row.id, row.revision)
        return results


def _by_request_id(news: list[NewServer]) -> dict[tuple[str, str], Instance]:
    """(project id, request id) -> the server recorded with it before, for the batch's
    request ids: one statement per project."""
    wanted: dict[str, set[str]] = {}
    for new in news:
        if new.request_id:
            wanted.setdefault(new.caller.project_id, set()).add(new.request_id)
    return {
        (row.project_id, row.request_id): row
        for project_id, request_ids in sorted(wanted.items())
        for row in Instance.select().where(
            (Instance.project_id == project_id) & Instance.request_id.in_(sorted(request_ids))
        )
    }


def _admit(new: NewServer, budget, live_groups: set, known: dict) -> tuple[Instance, bool]:
    """The server to record for `new` (not written yet), or the one its request id already
    named; takes its quota from the project's budget."""
    caller, req, request_id, flavor, group = (
        new.caller,
        new.req,
        new.request_id,
        new.flavor,
        new.group,
    )
    if request_id:
        # a retry in the same batch finds the server admitted before it
        existing = known.get((caller.project_id, request_id))
        if existing is not None:
            if not _same_request(existing, req):
                raise AlreadyExists(
                    "request_id was used for a different server",
                    reason="REQUEST_ID_REUSED",
                    request_id=request_id,
                )
            return existing, False
    if group is not None and group.id not in live_groups:
        raise NotFound(f"server group {group.id} not found", reason="SERVER_GROUP_NOT_FOUND")
    budget.charge(flavor.vcpus, flavor.ram_mb, group.id if group else None)
    now = utcnow()
    row = Instance(
        id=str(uuid.uuid4()),
        project_id=caller.project_id,
        user_id=caller.user_id,
        name=req.name,
        request_id=request_id or None,
        flavor_id=flavor.id,
        flavor_name=flavor.name,
        vcpus=flavor.vcpus,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        ephemeral_gb=flavor.ephemeral_gb,
        swap_mb=flavor.swap_mb,
        extra_specs=flavor.extra_specs,
        image_id=req.image_id,
        image_properties=new.image_properties,
        key_name=req.key_name,
        key_data=new.key_data,
        availability_zone=req.availability_zone,
        server_group_id=group.id if group else None,
        metadata=req.metadata,
        user_data=req.user_data or None,
        config_drive=req.config_drive,
        vm_state=states.BUILDING,
        task_state=states.SCHEDULING,
        power_state=states.NOSTATE,
        attempts=0,
        addresses={},
        created_at=now,
        updated_at=now,
        revision=0,
    )  # numbered when the batch is written (lifecycle.number)
    if request_id:
        known[(caller.project_id, request_id)] = row
    return row, True


def _write(admitted: list[tuple[Instance, NewServer]]) -> None:
    """The admitted servers, their group memberships and their create actions."""
    statements.insert_rows(Instance, [dict(row.__data__) for row, _ in admitted])
    members = [
        dict(group_id=new.group.id, instance_id=row.id)
        for row, new in admitted
        if new.group is not None
    ]
    if members:
        statements.insert_rows(ServerGroupMember, members)
    actions.start_many([(row.id, new.caller) for row, new in admitted], "create", event="schedule")


def _visible(query, caller, all_projects: bool = True):
    if caller.is_admin and all_projects:
        return query
    return query.where(Instance.project_id == caller.project_id)


def get(caller, server_id: str) -> Instance:
    """A live server of the caller's project (any project for admins); others: NOT_FOUND."""
    row = _visible(
        Instance.select().where((Instance.id == server_id) & Instance.deleted_at.is_null()), caller
    ).first()
    if row is None:
        raise NotFound(
            f"server {server_id} not found", reason="SERVER_NOT_FOUND", server_id=server_id
        )
    return row


def _lock(db, caller, server_id: str) -> Instance:
    rows = locked(
        _visible(
            Instance.select().where((Instance.id == server_id) & Instance.deleted_at.is_null()),
            caller,
        )
    )
    if not rows:
        raise NotFound(
            f"server {server_id} not found", reason="SERVER_NOT_FOUND", server_id=server_id
        )
    return rows[0]


@dataclass
class ListFilters:
    all_projects: bool = False
    project_id: str = ""
    name: str = ""
    vm_states: tuple[str, ...] = ()
    host: str = ""
    image_id: str = ""
    flavor_id: str = ""
    changes_since: datetime.datetime | None = None


def list_(caller, page, f: ListFilters):
    query = _visible(Instance.select(), caller, f.all_projects)
    if caller.is_admin and f.all_projects and f.project_id:
        query = query.where(Instance.project_id == f.project_id)
    if f.changes_since is not None:
        query = query.where(Instance.updated_at >= f.changes_since)
    else:
        query = query.where(Instance.deleted_at.is_null())
    if f.name:
        query = query.where(Instance.name.contains(f.name))
    if f.vm_states:
        query = query.where(Instance.vm_state.in_(f.vm_states))
    if f.host and caller.is_admin:
        query = query.where(Instance.host == f.host)
    if f.image_id:
        query = query.where(Instance.image_id == f.image_id)
    if f.flavor_id:
        query = query.where(Instance.flavor_id == f.flavor_id)
    return paginate(query, page, [Instance.name, Instance.id])


def update(db, caller, server_id: str, changes: dict) -> Instance:
    if "name" in changes:
        validation.name("server.name", changes["name"])
    if "metadata" in changes:
        check_metadata(changes["metadata"])
    with db.write_transaction():
        _lock(db, caller, server_id)
        lifecycle.change(server_id, **changes)
    return get(caller, server_id)


def request_action(db, caller, server_id: str, action: states.Action) -> Instance:
    """Checks the state allows it and marks the task; the conductor then does it."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, action.name)
        states.check_action(action, row.vm_state, row.task_state, row.host)
        lifecycle.change(server_id, task_state=action.task_state)
        actions.start(server_id, action.name.split("_")[0], caller)
    return get(caller, server_id)


# What a delete asks of the conductor next.
ON_HOST, LOCAL, NOTHING = "on_host", "local", "nothing"


def request_delete(
    db, caller, server_id: str, host_up: Callable[[str], bool]
) -> tuple[str, str | None]:
    """Marks the server deleting. ON_HOST: its host must destroy it (the conductor's delete).
    LOCAL: its host is down, so the server is deleted now and its claim freed, and the host
    destroys the guest when it comes back (Nova's local delete; also the way out of a delete
    stuck on a dead host). NOTHING: a server never placed, or still being placed, is deleted
    at once: a claim racing with this sees the deletion and rolls back. With it, the image a
    shelved server's disk was saved into, which goes with the server."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, "delete")
        if row.node_id and not host_up(row.node_id):
            if row.task_state != states.DELETING:
                actions.start(server_id, "delete", caller)
            lifecycle.change(server_id, task_state=states.DELETING)
            actions.event(server_id, "delete", "local_delete", actions.SUCCESS, row.host or "")
            host_cleanup.remember(server_id, row.node_id, host_cleanup.DELETED_WHILE_DOWN)
            lifecycle.mark_deleted(server_id)
            return LOCAL, None
        if row.task_state == states.DELETING:
            return (ON_HOST if row.host else NOTHING), None
        lifecycle.change(server_id, task_state=states.DELETING)
        actions.start(server_id, "delete", caller)
        if not row.host:
            lifecycle.mark_deleted(server_id)
            return NOTHING, row.shelved_image_id
        return ON_HOST, None


def set_locked(db, caller, server_id: str, locked: bool, reason: str = "") -> Instance:
    """Nova's lock and unlock. The lock remembers whether the owner's project or an admin of
    another project took it; only admins may lift a lock an admin took (Nova's
    unlock_override)."""
    if len(reason) > 255:
        raise InvalidArgument("reason", "at most 255 characters")
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        if locked and not row.locked:
            by = "owner" if row.project_id == caller.project_id else "admin"
            lifecycle.change(server_id, locked=True, locked_by=by, locked_reason=reason or None)
            actions.start(server_id, "lock", caller)
            actions.finish(server_id, "lock", actions.SUCCESS)
        elif not locked and row.locked:
            if row.locked_by == "admin" and not caller.is_admin:
                raise FailedPrecondition(
                    "the server was locked by an administrator", reason="SERVER_LOCKED_BY_ADMIN"
                )
            lifecycle.change(server_id, locked=False, locked_by=None, locked_reason=None)
            actions.start(server_id, "unlock", caller)
            actions.finish(server_id, "unlock", actions.SUCCESS)
    return get(caller, server_id)


def request_disk_save(
    db,
    caller,
    server_id: str,
    action: states.Action,
    create_image: Callable[[Instance], str],
    send: Callable[[Instance, str], None],
) -> tuple[Instance, str]:
    """Nova's createImage, or shelve: in one transaction, the state checked, the task set,
    the queued image made (`create_image(server) -> image id`) and the host's command written
    (`send(server, image id)`), so either is all asked for or not at all."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, action.name)
        states.check_action(action, row.vm_state, row.task_state, row.host)
        image_id = create_image(row)
        shelving = action is states.SHELVE
        lifecycle.change(
            server_id,
            task_state=action.task_state,
            **({"shelved_image_id": image_id} if shelving else {}),
        )
        actions.start(server_id, action.name, caller, event="shelve" if shelving else "snapshot")
        send(row, image_id)
    return get(caller, server_id), image_id


def request_unshelve(db, caller, server_id: str) -> Instance:
    """Nova's unshelve: the server waits for a host again, to be built from its saved disk."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, "unshelve")
        states.check_action(states.UNSHELVE, row.vm_state, row.task_state, row.host)
        actions.start(server_id, "unshelve", caller, event="schedule")
        lifecycle.change(
            server_id, vm_state=states.BUILDING, task_state=states.SCHEDULING, attempts=0
        )
    return get(caller, server_id)


@dataclass
class RebuildRequest:
    """What RebuildServer changes; None (or "") leaves it as it is."""

    image_id: str = ""
    name: str = ""
    user_data: bytes | None = None
    key_name: str | None = None


def check_rebuild(req: RebuildRequest) -> None:
    if req.image_id:
        validation.uuid("image_id", req.image_id)
    if req.name:
        validation.name("name", req.name)
    if req.user_data and base64_length(len(req.user_data)) > MAX_USER_DATA_BASE64:
        raise InvalidArgument(
            "user_data", f"at most {MAX_USER_DATA_BASE64} bytes once base64-encoded"
        )


def request_rebuild(
    db,
    caller,
    server_id: str,
    req: RebuildRequest,
    image_lookup: Callable[[str, str, bool], object],
    send: Callable[[Instance], None],
) -> Instance:
    """Nova's rebuild: in one transaction, the state checked, the new image, name and guest
    data written, the task set and the host's command written (`send(server)`)."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, "rebuild")
        states.check_action(states.REBUILD, row.vm_state, row.task_state, row.host)
        image_id = req.image_id or row.image_id
        image = image_lookup(image_id, caller.project_id, caller.is_admin)
        values: dict = {
            "image_id": image_id,
            "image_properties": images.check_bootable(image, image_id, row),
            "task_state": states.REBUILDING,
        }
        if req.name:
            values["name"] = req.name
        if req.user_data is not None:
            values["user_data"] = req.user_data or None
        if req.key_name is not None:
            values["key_name"] = req.key_name
            values["key_data"] = _public_key(caller, req.key_name)
        lifecycle.change(server_id, **values)
        actions.start(server_id, "rebuild", caller)
        send(Instance.get_by_id(server_id))
    return get(caller, server_id)


def _public_key(caller, key_name: str) -> str:
    if not key_name:
        return ""
    try:
        return str(keypairs.get(caller, key_name).public_key)
    except NotFound:
        raise InvalidArgument("key_name", "no such key pair", reason="KEY_PAIR_NOT_FOUND") from None


def request_resize(db, quotas, caller, server_id: str, flavor_id: str) -> Instance:
    """Nova's resize: in one transaction, the state checked, the growth charged to the
    project's quota, the migration recorded (the old allocation now its), the new flavor on
    the server and the task set; the conductor then claims it (Conductor.resize). Disks only
    grow."""
    if not flavor_id:
        raise InvalidArgument("flavor_id", "is required")
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, "resize")
        states.check_action(states.RESIZE, row.vm_state, row.task_state, row.host)
        try:
            flavor = flavors.get(flavor_id, caller)
        except NotFound:
            raise InvalidArgument(
                "flavor_id", "no such flavor", reason="FLAVOR_NOT_FOUND"
            ) from None
        if flavor.id == row.flavor_id:
            raise InvalidArgument(
                "flavor_id", "the server has this flavor already", reason="SAME_FLAVOR"
            )
        if flavor.disk_gb < row.disk_gb or flavor.ephemeral_gb < row.ephemeral_gb:
            raise InvalidArgument(
                "flavor_id",
                f"disks only grow: the server has {row.disk_gb} GB, the flavor {flavor.disk_gb}",
                reason="FLAVOR_DISK_SMALLER",
            )
        quotas.check_growth(row.project_id, flavor.vcpus - row.vcpus, flavor.ram_mb - row.ram_mb)
        new_flavor = {
            "flavor_id": flavor.id,
            "flavor_name": flavor.name,
            "vcpus": flavor.vcpus,
            "ram_mb": flavor.ram_mb,
            "disk_gb": flavor.disk_gb,
            "ephemeral_gb": flavor.ephemeral_gb,
            "swap_mb": flavor.swap_mb,
            "extra_specs": flavor.extra_specs,
        }
        migrations.start(row, new_flavor)
        lifecycle.change(server_id, task_state=states.RESIZE_PREP, **new_flavor)
        actions.start(server_id, "resize", caller, event="schedule")
    return get(caller, server_id)


def request_migrate(db, caller, server_id: str) -> Instance:
    """Nova's cold migration: a resize to the same flavor, always to another host."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_action(states.MIGRATE, row.vm_state, row.task_state, row.host)
        migrations.start(row, migrations.flavor_of(row), migrations.COLD)
        lifecycle.change(server_id, task_state=states.RESIZE_PREP)
        actions.start(server_id, "migrate", caller, event="schedule")
    return get(caller, server_id)


def request_evacuate(db, caller, server_id: str, host_state: Callable[[str], tuple]) -> Instance:
    """Nova's evacuate: in one transaction, the host checked dead (`host_state(node_id)` ->
    (up, enabled)), the stale copy remembered for when it returns, the claim freed and the
    server waiting for a host again, to be built from its image like a new one."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_action(states.EVACUATE, row.vm_state, row.task_state, row.host)
        up, enabled = host_state(row.node_id)
        if up or enabled:
            raise FailedPrecondition(
                f"host {row.host} must be down and disabled to evacuate its servers",
                reason="HOST_NOT_DOWN_AND_DISABLED",
                host=row.host or "",
            )
        host_cleanup.remember(server_id, row.node_id, host_cleanup.EVACUATED)
        allocations.release(server_id)
        actions.start(server_id, "evacuate", caller, event="schedule")
        lifecycle.change(
            server_id,
            vm_state=states.BUILDING,
            task_state=states.SCHEDULING,
            host=None,
            node_id=None,
            attempts=0,
        )
    return get(caller, server_id)


def request_resize_end(
    db, caller, server_id: str, action: states.Action, send: Callable[[Instance], None]
) -> Instance:
    """ConfirmServerResize or RevertServerResize: the state checked, the task set and the
    step's commands written (`send(server)`), in one transaction."""
    with db.write_transaction():
        row = _lock(db, caller, server_id)
        states.check_unlocked(row.locked, caller.is_admin, action.name)
        states.check_action(action, row.vm_state, row.task_state, row.host)
        lifecycle.change(server_id, task_state=action.task_state)
        actions.start(server_id, action.name, caller)
        send(row)
    return get(caller, server_id)


def count_for_quota(project_id: str) -> tuple[int, int, int]:
    """(instances, cores, ram_mb) of a project's live servers; a server being resized counts
    at the larger of its two flavors until the resize is confirmed or reverted."""
    row = _USAGE.execute(project_id=project_id).fetchone()
    cores, ram_mb = int(row[1]), int(row[2])
    for server in _RESIZING.rows(project_id=project_id):
        old = server.migration.old_flavor
        cores += max(0, old["vcpus"] - server.vcpus)
        ram_mb += max(0, old["ram_mb"] - server.ram_mb)
    return int(row[0]), cores, ram_mb
