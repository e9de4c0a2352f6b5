"""IssueToken, ValidateToken, RevokeToken and GetCatalog: what they return and how they refuse."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    PASSWORD,
    bearer,
    issue,
    list_all,
    new_project,
    new_user,
    role_id,
    snapshot,
    unknown_id,
)
from tests.support.errors import raises

DAY = 86400


@pytest.fixture(scope="module")
def alice(cloud):
    """A member of one project, with no role on a second one."""
    user = new_user(cloud, "alice")
    project = new_project(cloud, "alice-project")
    other = new_project(cloud, "alice-other")
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=user.id, project_id=project.id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=user.id, project_id=project.id, role_id=role_id(cloud, "reader")
        ),
        metadata=cloud.admin,
    )
    return user, project, other


# -- IssueToken ---------------------------------------------------------------------------------


def test_scoped_token_carries_user_project_roles_and_catalog(cloud, alice):
    user, project, _ = alice
    response = issue(cloud, user.name, project_name=project.name)
    info = response.info
    assert (info.user_id, info.user_name, info.project_id, info.project_name) == (
        user.id,
        user.name,
        project.id,
        project.name,
    )
    assert list(info.roles) == ["member", "reader"]
    assert list(info.methods) == ["password"]
    assert info.expire_time.seconds - info.issue_time.seconds in (DAY - 1, DAY)
    assert len(info.audit_id) >= 16
    assert {"identity", "image", "compute"} <= {entry.type for entry in info.catalog.entries}
    assert 0 < len(response.token) <= 255


def test_token_by_ids(cloud, alice):
    user, project, _ = alice
    info = cloud.identity.IssueToken(
        ipb.IssueTokenRequest(user_id=user.id, password=PASSWORD, project_id=project.id)
    ).info
    assert (info.user_name, info.project_name) == (user.name, project.name)


def test_unscoped_token(cloud, alice):
    user, _, _ = alice
    response = issue(cloud, user.name)
    info = response.info
    assert (info.user_id, info.project_id, list(info.roles)) == (user.id, "", [])
    assert not info.HasField("catalog")
    # It identifies the user: they may read themself and the catalog, and nothing admin.
    token = bearer(response.token)
    assert cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=token).name == user.name
    assert cloud.identity.GetCatalog(ipb.GetCatalogRequest(), metadata=token).entries
    projects = cloud.identity.ListProjects(
        ipb.ListProjectsRequest(user_id=user.id), metadata=token
    ).projects
    assert [p.id for p in projects] == [alice[1].id]
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.ListUsers(ipb.ListUsersRequest(), metadata=token)
    validated = cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=response.token), metadata=token
    ).info
    assert validated.project_id == "" and not validated.HasField("catalog")


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"password": PASSWORD}, "user_name"),
        ({"user_name": "admin"}, "password"),
        ({"user_id": "not-a-uuid", "password": PASSWORD}, "user_id"),
        ({"user_name": "admin", "password": PASSWORD, "project_id": "not-a-uuid"}, "project_id"),
    ],
)
def test_issue_refuses_bad_input(cloud, request_fields, field):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", field):
        cloud.identity.IssueToken(ipb.IssueTokenRequest(**request_fields))


def test_wrong_password_and_unknown_user_fail_alike(cloud, alice):
    user, _, _ = alice
    attempts = [
        ipb.IssueTokenRequest(user_name=user.name, password="wrong-password"),
        ipb.IssueTokenRequest(user_name="nobody-" + unknown_id(), password=PASSWORD),
        ipb.IssueTokenRequest(user_id=unknown_id(), password=PASSWORD),
        ipb.IssueTokenRequest(user_id=user.id, password=PASSWORD + "x"),
    ]
    messages = set()
    for attempt in attempts:
        with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED") as failure:
            cloud.identity.IssueToken(attempt)
        messages.add(failure.value.details())
    assert len(messages) == 1
    assert user.name not in messages.pop()


def test_disabled_user_fails_like_an_unknown_one(cloud):
    user = new_user(cloud, "disabled", enabled=False)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED") as disabled:
        issue(cloud, user.name)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED") as unknown:
        issue(cloud, "nobody-" + unknown_id())
    assert disabled.value.details() == unknown.value.details()


def test_no_lockout_by_default(cloud, alice):
    user, _, _ = alice
    for _ in range(4):
        with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"):
            issue(cloud, user.name, "wrong-password")
    assert issue(cloud, user.name).token


def test_project_without_a_role_unknown_or_disabled_is_refused_alike(cloud, alice):
    user, _project, other = alice
    disabled = new_project(cloud, "disabled", enabled=False)
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=user.id, project_id=disabled.id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    messages = set()
    for scope in (
        {"project_id": other.id},
        {"project_name": "nowhere-" + unknown_id()},
        {"project_id": unknown_id()},
        {"project_name": disabled.name},
    ):
        with raises(grpc.StatusCode.PERMISSION_DENIED, "NO_PROJECT_ACCESS") as failure:
            cloud.identity.IssueToken(
                ipb.IssueTokenRequest(user_name=user.name, password=PASSWORD, **scope)
            )
        messages.add(failure.value.details())
    assert len(messages) == 1


# -- ValidateToken ------------------------------------------------------------------------------


def test_validate_returns_what_the_token_carries(cloud, alice):
    user, project, _ = alice
    issued = issue(cloud, user.name, project_name=project.name)
    info = cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=issued.token), metadata=cloud.admin
    ).info
    assert (info.user_id, info.project_id, list(info.roles), info.audit_id) == (
        user.id,
        project.id,
        ["member", "reader"],
        issued.info.audit_id,
    )
    assert info.expire_time == issued.info.expire_time
    assert info.catalog.entries


@pytest.mark.parametrize(
    "token, code, reason",
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
        ("garbage", grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"),
        ("x" * 400, grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"),
    ],
)
def test_validate_and_revoke_refuse_bad_tokens(cloud, token, code, reason):
    field = "token" if code == grpc.StatusCode.INVALID_ARGUMENT else None
    with raises(code, reason, field):
        cloud.identity.ValidateToken(ipb.ValidateTokenRequest(token=token), metadata=cloud.admin)
    before = snapshot(cloud)
    with raises(code, reason, field):
        cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=token), metadata=cloud.admin)
    assert snapshot(cloud) == before


# -- RevokeToken --------------------------------------------------------------------------------


def test_revoked_token_stops_validating_and_others_do_not(cloud, alice):
    user, project, _ = alice
    first = issue(cloud, user.name, project_name=project.name).token
    second = issue(cloud, user.name, project_name=project.name).token
    cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=bearer(first))  # now cached
    cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=first), metadata=bearer(first))
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
        cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=bearer(first))
    with raises(grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"):
        cloud.identity.ValidateToken(ipb.ValidateTokenRequest(token=first), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"):
        cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=first), metadata=cloud.admin)
    assert (
        cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=bearer(second)).id
        == user.id
    )


def test_admin_revokes_a_users_token(cloud, alice):
    user, project, _ = alice
    token = issue(cloud, user.name, project_name=project.name).token
    cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=token), metadata=cloud.admin)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
        cloud.identity.GetCatalog(ipb.GetCatalogRequest(), metadata=bearer(token))


def test_user_cannot_revoke_another_users_token(cloud, alice, member):
    user, project, _ = alice
    token = issue(cloud, user.name, project_name=project.name).token
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=token), metadata=member.metadata)
    assert cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=token), metadata=bearer(token)
    ).info.user_id


# -- GetCatalog ---------------------------------------------------------------------------------


def test_catalog_lists_enabled_services_with_enabled_endpoints(cloud, member):
    catalog = cloud.identity.GetCatalog(ipb.GetCatalogRequest(), metadata=member.metadata)
    services = {s.id: s for s in list_all(cloud.identity, "services", cloud.admin)}
    endpoints = list_all(cloud.identity, "endpoints", cloud.admin)
    assert sorted(e.service_id for e in catalog.entries) == sorted(
        i for i, s in services.items() if s.enabled
    )
    for entry in catalog.entries:
        expected = sorted(e.id for e in endpoints if e.service_id == entry.service_id and e.enabled)
        assert sorted(e.id for e in entry.endpoints) == expected
        assert entry.type == services[entry.service_id].type
