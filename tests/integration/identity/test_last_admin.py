"""The last administrator cannot be removed, deleted or disabled, nor its project deleted or
disabled, nor the admin role deleted. Runs on a controller process of its own, where the
bootstrap admin is the only one."""
import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (PASSWORD, issue, list_all, mask, new_project, new_user, role_id,
                                                unchanged)
from tests.support.controller import ADMIN_PASSWORD
from tests.support.errors import raises

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture(scope="module")
def bootstrap(custom):
    admin = custom.identity.ListUsers(ipb.ListUsersRequest(name="admin"), metadata=custom.admin).users[0]
    project = custom.identity.ListProjects(ipb.ListProjectsRequest(name="admin"), metadata=custom.admin).projects[0]
    return admin, project, role_id(custom, "admin")


def _admins(cloud):
    admin_role = role_id(cloud, "admin")
    return list_all(cloud.identity, "assignments", cloud.admin, role_id=admin_role)


def test_the_bootstrap_admin_is_the_only_one(custom, bootstrap):
    admin, project, _ = bootstrap
    assert [(a.user_id, a.project_id) for a in _admins(custom)] == [(admin.id, project.id)]


def test_last_admin_cannot_lose_the_role(custom, bootstrap):
    admin, project, admin_role = bootstrap
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.UnassignRole(ipb.UnassignRoleRequest(user_id=admin.id, project_id=project.id,
                                                             role_id=admin_role), metadata=custom.admin)


def test_last_admin_cannot_be_deleted(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.DeleteUser(ipb.DeleteUserRequest(id=bootstrap[0].id), metadata=custom.admin)


def test_last_admin_cannot_be_disabled(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.UpdateUser(ipb.UpdateUserRequest(user=ipb.User(id=bootstrap[0].id, enabled=False),
                                                         update_mask=mask("enabled")), metadata=custom.admin)


def test_last_admins_project_cannot_be_deleted(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.DeleteProject(ipb.DeleteProjectRequest(id=bootstrap[1].id), metadata=custom.admin)


def test_last_admins_project_cannot_be_disabled(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.UpdateProject(ipb.UpdateProjectRequest(project=ipb.Project(id=bootstrap[1].id, enabled=False),
                                                               update_mask=mask("enabled")), metadata=custom.admin)
    # The admin can still sign in and manage.
    assert issue(custom, "admin", ADMIN_PASSWORD, "admin").info.roles == ["admin"]


def test_the_admin_role_cannot_be_deleted_while_held(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "ROLE_IN_USE"):
        custom.identity.DeleteRole(ipb.DeleteRoleRequest(id=bootstrap[2]), metadata=custom.admin)


def test_an_admin_who_is_not_the_last_can_go(custom, bootstrap):
    _, _, admin_role = bootstrap
    second, third = new_user(custom, "second-admin"), new_user(custom, "third-admin")
    elsewhere = new_project(custom, "second-admins")
    for user in (second, third):
        custom.identity.AssignRole(ipb.AssignRoleRequest(user_id=user.id, project_id=elsewhere.id, role_id=admin_role),
                                   metadata=custom.admin)
    # A second admin is a real admin: it manages identity.
    token = issue(custom, second.name, PASSWORD, elsewhere.name).token
    custom.identity.ListUsers(ipb.ListUsersRequest(), metadata=(("authorization", f"Bearer {token}"),))
    custom.identity.UnassignRole(ipb.UnassignRoleRequest(user_id=second.id, project_id=elsewhere.id,
                                                         role_id=admin_role), metadata=custom.admin)
    custom.identity.UpdateUser(ipb.UpdateUserRequest(user=ipb.User(id=third.id, enabled=False),
                                                     update_mask=mask("enabled")), metadata=custom.admin)
    custom.identity.DeleteProject(ipb.DeleteProjectRequest(id=elsewhere.id), metadata=custom.admin)
    custom.identity.DeleteUser(ipb.DeleteUserRequest(id=third.id), metadata=custom.admin)
    assert [a.user_id for a in _admins(custom)] == [bootstrap[0].id]
