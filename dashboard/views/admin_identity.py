"""The admin's identity forms: create a project, create a user, assign a role by names."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard.auth import User, require_admin
from dashboard.i18n import _
from dashboard.web import back, flash
from stratus.identity.v1 import identity_service_pb2 as ipb


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


async def create_project(request: Request) -> Response:
    user = require_admin(request)
    form = await request.form()
    project = await request.app.state.api.identity.CreateProject(
        ipb.CreateProjectRequest(
            project=ipb.Project(
                name=_text(form, "name"), description=_text(form, "description"), enabled=True
            )
        ),
        metadata=user.metadata,
    )
    flash(request, _("Project %(name)s created.", name=project.name))
    return back(request, "/admin/projects")


async def create_user(request: Request) -> Response:
    user = require_admin(request)
    form = await request.form()
    created = await request.app.state.api.identity.CreateUser(
        ipb.CreateUserRequest(
            user=ipb.User(name=_text(form, "name"), email=_text(form, "email"), enabled=True),
            password=str(form.get("password", "")),
        ),
        metadata=user.metadata,
    )
    flash(request, _("User %(name)s created.", name=created.name))
    return back(request, "/admin/users")


async def _id_by_name(user: User, call: Any, message: Any, items: str, name: str) -> str:
    """The id of the one item with exactly this name; empty when there is none."""
    reply = await call(message(name=name, page_size=1), metadata=user.metadata)
    found = getattr(reply, items)
    return str(found[0].id) if found and name else ""


async def assign_role(request: Request) -> Response:
    user = require_admin(request)
    form = await request.form()
    identity = request.app.state.api.identity
    user_id = await _id_by_name(
        user, identity.ListUsers, ipb.ListUsersRequest, "users", _text(form, "user")
    )
    project_id = await _id_by_name(
        user, identity.ListProjects, ipb.ListProjectsRequest, "projects", _text(form, "project")
    )
    role_id = await _id_by_name(
        user, identity.ListRoles, ipb.ListRolesRequest, "roles", _text(form, "role")
    )
    if not (user_id and project_id and role_id):
        flash(request, _("No such user, project or role."), "error")
        return back(request, "/admin/role-assignments")
    await identity.AssignRole(
        ipb.AssignRoleRequest(user_id=user_id, project_id=project_id, role_id=role_id),
        metadata=user.metadata,
    )
    flash(request, _("Role assigned."))
    return back(request, "/admin/role-assignments")


routes = [
    Route("/admin/projects", create_project, methods=["POST"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/role-assignments", assign_role, methods=["POST"]),
]
