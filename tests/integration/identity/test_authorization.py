"""Default policy: admin manages identity; a user reads themself and changes their own password;
reader and member are read-only here. Refusals are PERMISSION_DENIED and change nothing."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import METHODS, bearer, issue, snapshot
from tests.support.controller import ADMIN_PASSWORD
from tests.support.errors import raises

# What any project-scoped token may call, whatever its role.
OPEN_TO_ALL = {
    "IssueToken",
    "GetCatalog",
    "GetRole",
    "ListRoles",
    "GetService",
    "ListServices",
    "GetEndpoint",
    "ListEndpoints",
}
# Everything else, aimed at another user's or project's resources, is refused to non-admins.
REFUSED = [m for m in METHODS if m not in OPEN_TO_ALL]


@pytest.mark.parametrize("role", ["member", "reader"])
def test_non_admin_is_refused_everything_about_others(cloud, victims, request, role):
    tenant = request.getfixturevalue(role)
    before = snapshot(cloud)
    for method in REFUSED:
        with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
            getattr(cloud.identity, method)(victims.request(method), metadata=tenant.metadata)
    assert snapshot(cloud) == before
    cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=victims.token), metadata=cloud.admin
    )


@pytest.mark.parametrize("role", ["member", "reader"])
def test_non_admin_reads_the_catalog_and_roles(cloud, victims, request, role):
    tenant = request.getfixturevalue(role)
    for method in sorted(OPEN_TO_ALL - {"IssueToken"}):
        getattr(cloud.identity, method)(victims.request(method), metadata=tenant.metadata)


def test_admin_calls_everything(cloud, victims):
    for method in [
        "GetUser",
        "ListUsers",
        "GetProject",
        "ListProjects",
        "ListRoleAssignments",
        "GetRole",
        "ValidateToken",
        "GetService",
        "GetEndpoint",
        "GetCatalog",
    ]:
        getattr(cloud.identity, method)(victims.request(method), metadata=cloud.admin)


def test_user_reads_themself_but_not_another_user(cloud, member, victims):
    me = cloud.identity.GetUser(ipb.GetUserRequest(id=member.user_id), metadata=member.metadata)
    assert me.name == member.user_name
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.GetUser(ipb.GetUserRequest(id=victims.user.id), metadata=member.metadata)


def test_user_id_in_upper_case_is_still_themself(cloud, member):
    me = cloud.identity.GetUser(
        ipb.GetUserRequest(id=member.user_id.upper()), metadata=member.metadata
    )
    assert me.id == member.user_id


def test_user_lists_their_own_projects_and_assignments_only(cloud, member, victims):
    projects = cloud.identity.ListProjects(
        ipb.ListProjectsRequest(user_id=member.user_id), metadata=member.metadata
    ).projects
    assert [p.id for p in projects] == [member.project_id]
    assignments = cloud.identity.ListRoleAssignments(
        ipb.ListRoleAssignmentsRequest(user_id=member.user_id), metadata=member.metadata
    ).role_assignments
    assert [(a.project_id, a.role_name) for a in assignments] == [(member.project_id, "member")]
    for request in (ipb.ListProjectsRequest(user_id=victims.user.id), ipb.ListProjectsRequest()):
        with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
            cloud.identity.ListProjects(request, metadata=member.metadata)


def test_user_reads_their_project_but_not_another(cloud, reader, victims):
    project = cloud.identity.GetProject(
        ipb.GetProjectRequest(id=reader.project_id), metadata=reader.metadata
    )
    assert project.name == reader.project_name
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.GetProject(
            ipb.GetProjectRequest(id=victims.project.id), metadata=reader.metadata
        )


def test_user_validates_their_own_token_only(cloud, member, victims):
    info = cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=member.token), metadata=member.metadata
    ).info
    assert (info.user_id, info.project_id, list(info.roles)) == (
        member.user_id,
        member.project_id,
        ["member"],
    )
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.ValidateToken(
            ipb.ValidateTokenRequest(token=victims.token), metadata=member.metadata
        )


def test_admin_cannot_change_another_users_password(cloud, victims):
    # Admins reset passwords with UpdateUser; ChangePassword is the user's own, with the old
    # password.
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.ChangePassword(victims.request("ChangePassword"), metadata=cloud.admin)
    cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=victims.token), metadata=cloud.admin
    )


def test_admin_role_needs_a_project_scoped_token(cloud, victims):
    # The admin's unscoped token carries no role, so it manages nothing.
    unscoped = issue(cloud, "admin", ADMIN_PASSWORD)
    assert list(unscoped.info.roles) == [] and unscoped.info.project_id == ""
    before = snapshot(cloud)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.DeleteProject(
            victims.request("DeleteProject"), metadata=bearer(unscoped.token)
        )
    assert snapshot(cloud) == before
    me = cloud.identity.GetUser(
        ipb.GetUserRequest(id=unscoped.info.user_id), metadata=bearer(unscoped.token)
    )
    assert me.name == "admin"
