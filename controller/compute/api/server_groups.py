"""Server groups: members placed together or apart, enforced by the scheduler and the claim."""

from __future__ import annotations

import uuid

from controller import validation
from controller.compute.records.models import ServerGroup, ServerGroupMember
from controller.compute.scheduler.host_state import ANTI_AFFINITY, GROUP_POLICIES
from controller.db.paging import paginate
from controller.db.queries import utcnow
from stratus_common.errors import InvalidArgument, NotFound


def create(db, quotas, caller, name: str, policy: str, max_server_per_host: int = 0) -> ServerGroup:
    validation.name("server_group.name", name)
    if policy not in GROUP_POLICIES:
        raise InvalidArgument("server_group.policy", f"one of {', '.join(GROUP_POLICIES)}")
    if max_server_per_host and policy != ANTI_AFFINITY:
        raise InvalidArgument(
            "server_group.max_server_per_host", "applies only to the anti-affinity policy"
        )
    if max_server_per_host < 0:
        raise InvalidArgument("server_group.max_server_per_host", "must be at least 1")
    with db.write_transaction():
        quotas.check_server_groups(caller)
        return ServerGroup.create(
            id=str(uuid.uuid4()),
            name=name,
            project_id=caller.project_id,
            user_id=caller.user_id,
            policy=policy,
            max_server_per_host=max_server_per_host or 1,
            created_at=utcnow(),
        )


def get(caller, group_id: str) -> ServerGroup:
    query = ServerGroup.select().where(ServerGroup.id == group_id)
    if not caller.is_admin:
        query = query.where(ServerGroup.project_id == caller.project_id)
    group = query.first()
    if group is None:
        raise NotFound(
            f"server group {group_id} not found",
            reason="SERVER_GROUP_NOT_FOUND",
            server_group_id=group_id,
        )
    return group


def members(group_id: str) -> list[str]:
    return [
        m.instance_id
        for m in ServerGroupMember.select()
        .where(ServerGroupMember.group_id == group_id)
        .order_by(ServerGroupMember.instance_id)
    ]


def list_(caller, page, all_projects: bool = False):
    query = ServerGroup.select()
    if not (all_projects and caller.is_admin):
        query = query.where(ServerGroup.project_id == caller.project_id)
    return paginate(query, page, [ServerGroup.name, ServerGroup.id])


def delete(caller, group_id: str) -> None:
    get(caller, group_id).delete_instance()  # memberships go by ON DELETE CASCADE
