"""Projects: the tenants that own resources."""

import itertools
import uuid

from controller.db.database import write_transaction
from controller.db.paging import paginate
from controller.db.queries import get_or_not_found, unique, utcnow
from controller.identity import revocations, roles
from controller.identity.models import Project, RoleAssignment

UPDATABLE = {"name", "description", "enabled"}

_changes = itertools.count(1)
generation = 0  # bumped after every committed update or delete in this process


def _changed():
    """Bumped once the write is done, so a read racing it cannot cache the old row under
    the new generation (project_reads.ProjectReads)."""
    global generation  # noqa: PLW0603 - the process-wide cache key
    generation = next(_changes)


def create(name: str, description: str = "", enabled: bool = True) -> Project:
    now = utcnow()
    with unique("project", "name", name):
        return Project.create(
            id=str(uuid.uuid4()),
            name=name,
            description=description,
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )


def get(project_id: str) -> Project:
    return get_or_not_found(Project, project_id, "project")


def find(project_id: str | None, name: str | None) -> Project | None:
    if project_id:
        return Project.get_or_none(Project.id == project_id)
    return Project.get_or_none(Project.name == name)


def list_(page, name=None, enabled=None, user_id=None):
    query = Project.select()
    if name:
        query = query.where(Project.name == name)
    if enabled is not None:
        query = query.where(Project.enabled == enabled)
    if user_id:
        query = query.where(
            Project.id.in_(
                RoleAssignment.select(RoleAssignment.project).where(RoleAssignment.user == user_id)
            )
        )
    return paginate(query, page, [Project.name, Project.id])


def update(project_id: str, changes: dict, max_token_life: int) -> Project:
    with write_transaction():  # the last-admin check and the write, together
        project = get(project_id)
        disabling = changes.get("enabled") is False and project.enabled
        if disabling:
            roles.ensure_admins_remain(removing_project=project.id)
        for key, value in changes.items():
            setattr(project, key, value)
        project.updated_at = utcnow()
        with unique("project", "name", project.name):
            project.save()
    _changed()
    if disabling:
        revocations.record(project_id=project.id, max_token_life=max_token_life)
    return project


def delete(project_id: str, max_token_life: int):
    with write_transaction():
        project = get(project_id)
        roles.ensure_admins_remain(removing_project=project.id)
        project.delete_instance()
    _changed()
    revocations.record(project_id=project.id, max_token_life=max_token_life)
