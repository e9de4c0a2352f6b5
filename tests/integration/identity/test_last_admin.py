"""The last administrator cannot be removed, deleted or disabled, nor its project deleted or
disabled, nor the admin role deleted. Runs on a controller process of its own, where the
bootstrap admin is the only one."""

import time

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    PASSWORD,
    issue,
    list_all,
    mask,
    new_project,
    new_user,
    reached_server,
    role_id,
    unchanged,
)
from tests.integration.identity.processes import database_url
from tests.support.controller import ADMIN_PASSWORD
from tests.support.errors import raises
from tests.support.sql import execute, write_lock

PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture(scope="module")
def bootstrap(custom):
    admin = custom.identity.ListUsers(
        ipb.ListUsersRequest(name="admin"), metadata=custom.admin
    ).users[0]
    project = custom.identity.ListProjects(
        ipb.ListProjectsRequest(name="admin"), metadata=custom.admin
    ).projects[0]
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
        custom.identity.UnassignRole(
            ipb.UnassignRoleRequest(user_id=admin.id, project_id=project.id, role_id=admin_role),
            metadata=custom.admin,
        )


def test_last_admin_cannot_be_deleted(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.DeleteUser(ipb.DeleteUserRequest(id=bootstrap[0].id), metadata=custom.admin)


def test_last_admin_cannot_be_disabled(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.UpdateUser(
            ipb.UpdateUserRequest(
                user=ipb.User(id=bootstrap[0].id, enabled=False), update_mask=mask("enabled")
            ),
            metadata=custom.admin,
        )


def test_last_admins_project_cannot_be_deleted(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.DeleteProject(
            ipb.DeleteProjectRequest(id=bootstrap[1].id), metadata=custom.admin
        )


def test_last_admins_project_cannot_be_disabled(custom, bootstrap):
    with unchanged(custom), raises(PRECONDITION, "LAST_ADMIN"):
        custom.identity.UpdateProject(
            ipb.UpdateProjectRequest(
                project=ipb.Project(id=bootstrap[1].id, enabled=False), update_mask=mask("enabled")
            ),
            metadata=custom.admin,
        )
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
        custom.identity.AssignRole(
            ipb.AssignRoleRequest(user_id=user.id, project_id=elsewhere.id, role_id=admin_role),
            metadata=custom.admin,
        )
    # A second admin is a real admin: it manages identity.
    token = issue(custom, second.name, PASSWORD, elsewhere.name).token
    custom.identity.ListUsers(
        ipb.ListUsersRequest(), metadata=(("authorization", f"Bearer {token}"),)
    )
    custom.identity.UnassignRole(
        ipb.UnassignRoleRequest(user_id=second.id, project_id=elsewhere.id, role_id=admin_role),
        metadata=custom.admin,
    )
    custom.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=third.id, enabled=False), update_mask=mask("enabled")
        ),
        metadata=custom.admin,
    )
    custom.identity.DeleteProject(ipb.DeleteProjectRequest(id=elsewhere.id), metadata=custom.admin)
    custom.identity.DeleteUser(ipb.DeleteUserRequest(id=third.id), metadata=custom.admin)
    assert [a.user_id for a in _admins(custom)] == [bootstrap[0].id]


def test_two_admins_removed_at_once_leave_one(spawner):
    # Both deletions reach the database while a lock holds every write back, so both have
    # checked for remaining admins before either writes. Checked and written apart, both would
    # pass the check and no administrator would be left.
    config = spawner.config()
    cloud = spawner.cloud(spawner.start(config))
    admin_role = role_id(cloud, "admin")
    first = cloud.identity.ListUsers(
        ipb.ListUsersRequest(name="admin"), metadata=cloud.admin
    ).users[0]
    second = new_user(cloud, "co-admin")
    project = cloud.identity.ListProjects(
        ipb.ListProjectsRequest(name="admin"), metadata=cloud.admin
    ).projects[0]
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(user_id=second.id, project_id=project.id, role_id=admin_role),
        metadata=cloud.admin,
    )
    with write_lock(database_url(config), "user_account"):
        calls = [
            cloud.identity.DeleteUser.future(
                ipb.DeleteUserRequest(id=user.id), metadata=cloud.admin, timeout=60
            )
            for user in (first, second)
        ]
        reached_server(cloud)
        time.sleep(0.5)  # for both to read the admins; neither can write before the lock goes
    outcomes = []
    for call in calls:
        try:
            call.result()
            outcomes.append("deleted")
        except grpc.RpcError as error:
            outcomes.append(error.code())
    assert sorted(map(str, outcomes)) == sorted(["deleted", str(PRECONDITION)])
    held = execute(
        database_url(config),
        "SELECT COUNT(*) FROM role_assignment WHERE role_id = ?",
        (admin_role,),
    )
    assert held == [(1,)]
