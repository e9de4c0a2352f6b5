"""Roles and their assignment to users on projects."""

import uuid

from controller.db.database import for_update, write_transaction
from controller.db.paging import paginate
from controller.db.prepared import Param, Prepared
from controller.db.queries import get_or_not_found, unique, utcnow
from controller.identity import revocations
from controller.identity.models import Project, Role, RoleAssignment, User
from stratus_common import errors

ADMIN = "admin"
DEFAULT_ROLES = ("admin", "member", "reader")


def create(name: str, description: str = "") -> Role:
    with unique("role", "name", name):
        return Role.create(
            id=str(uuid.uuid4()), name=name, description=description, created_at=utcnow()
        )


def get(role_id: str) -> Role:
    return get_or_not_found(Role, role_id, "role")


def list_(page, name=None):
    query = Role.select()
    if name:
        query = query.where(Role.name == name)
    return paginate(query, page, [Role.name, Role.id])


def delete(role_id: str):
    role = get(role_id)
    in_use = RoleAssignment.select().where(RoleAssignment.role == role.id).count()
    if in_use:
        raise errors.FailedPrecondition(
            f"role {role.name} is assigned {in_use} time(s); remove the assignments first",
            reason="ROLE_IN_USE",
            role_id=role.id,
            assignments=in_use,
        )
    role.delete_instance()


_NAMES_ON_PROJECT = Prepared(
    lambda: (
        Role.select(Role.name)
        .join(RoleAssignment)
        .where(
            (RoleAssignment.user == Param("user_id"))
            & (RoleAssignment.project == Param("project_id"))
        )
        .tuples()
    )
)


def names_on_project(user_id: str, project_id: str) -> tuple[str, ...]:
    """Prepared: token validation runs it on every cache miss."""
    return tuple(
        sorted(name for (name,) in _NAMES_ON_PROJECT.rows(user_id=user_id, project_id=project_id))
    )


def assign(user_id: str, project_id: str, role_id: str):
    """Grants the role (a no-op when held); returns the assignment as list_assignments shows it."""
    get_or_not_found(User, user_id, "user")
    get_or_not_found(Project, project_id, "project")
    get(role_id)
    RoleAssignment.get_or_create(
        user=user_id, project=project_id, role=role_id, defaults={"created_at": utcnow()}
    )
    RA = RoleAssignment
    return (
        _described()
        .where((RA.user == user_id) & (RA.project == project_id) & (RA.role == role_id))
        .objects()
        .get()
    )


def unassign(user_id: str, project_id: str, role_id: str, max_token_life: int):
    with write_transaction():  # the last-admin check and the delete, together
        assignment = RoleAssignment.get_or_none(user=user_id, project=project_id, role=role_id)
        if assignment is None:
            raise errors.NotFound(
                "no such role assignment",
                reason="ROLE_ASSIGNMENT_NOT_FOUND",
                user_id=user_id,
                project_id=project_id,
                role_id=role_id,
            )
        if get(role_id).name == ADMIN:
            ensure_admins_remain(removing_user=user_id, removing_project=project_id)
        assignment.delete_instance()
    revocations.record(user_id=user_id, project_id=project_id, max_token_life=max_token_life)


def _described():
    """Assignments with the names of their role, user and project."""
    RA = RoleAssignment
    return (
        RA.select(
            RA,
            Role.name.alias("role_name"),
            User.name.alias("user_name"),
            Project.name.alias("project_name"),
        )
        .join(Role)
        .switch(RA)
        .join(User)
        .switch(RA)
        .join(Project)
    )


def list_assignments(page, user_id=None, project_id=None, role_id=None):
    RA = RoleAssignment
    query = _described()
    if user_id:
        query = query.where(RA.user == user_id)
    if project_id:
        query = query.where(RA.project == project_id)
    if role_id:
        query = query.where(RA.role == role_id)
    return paginate(query.objects(), page, [RA.user, RA.project, RA.role])


def ensure_admins_remain(removing_user: str | None = None, removing_project: str | None = None):
    """Refuses a change that would leave no enabled user holding the admin role on an enabled
    project (only such a user can get a token that carries the role). Call it inside the write
    transaction of the change: the rows it counts stay locked until the change commits."""
    RA = RoleAssignment
    query = (
        RA.select(RA.user, RA.project)
        .join(Role)
        .switch(RA)
        .join(User)
        .switch(RA)
        .join(Project)
        .where((Role.name == ADMIN) & (User.enabled == True) & (Project.enabled == True))  # noqa: E712
        .order_by(RA.user, RA.project)
    )
    admins = [(a.user_id, a.project_id) for a in for_update(query)]
    remaining = [
        (user, project)
        for user, project in admins
        if not (
            (removing_user is None or user == removing_user)
            and (removing_project is None or project == removing_project)
        )
    ]
    if admins and not remaining:
        raise errors.FailedPrecondition(
            "this would leave no enabled administrator; grant admin to another user first",
            reason="LAST_ADMIN",
        )
