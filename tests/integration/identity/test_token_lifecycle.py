"""Tokens stop validating when what they stand for changes: revocation, the user or project
disabled or deleted, the password changed, the role removed. Each token is used once first,
so the controller's validation cache is warm and must be invalidated too."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import bearer, issue, mask, new_project, role_id
from tests.support.errors import raises


def _works(cloud, token, user_id):
    return (
        cloud.identity.GetUser(ipb.GetUserRequest(id=user_id), metadata=bearer(token)).id == user_id
    )


def _dead(cloud, token, user_id):
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
        cloud.identity.GetUser(ipb.GetUserRequest(id=user_id), metadata=bearer(token))
    with raises(grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"):
        cloud.identity.ValidateToken(ipb.ValidateTokenRequest(token=token), metadata=cloud.admin)
    return True


@pytest.fixture
def tenant(cloud):
    """A fresh member whose token has been used (and so cached) once."""
    tenant = cloud.tenant("member")
    assert _works(cloud, tenant.token, tenant.user_id)
    return tenant


def _set_user(cloud, tenant, **fields):
    cloud.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=tenant.user_id, **fields), update_mask=mask(*fields)
        ),
        metadata=cloud.admin,
    )


def _set_project(cloud, project_id, **fields):
    cloud.identity.UpdateProject(
        ipb.UpdateProjectRequest(
            project=ipb.Project(id=project_id, **fields), update_mask=mask(*fields)
        ),
        metadata=cloud.admin,
    )


def test_disabling_the_user(cloud, tenant):
    unscoped = issue(cloud, tenant.user_name, tenant.password).token
    _set_user(cloud, tenant, enabled=False)
    assert _dead(cloud, tenant.token, tenant.user_id)
    assert _dead(cloud, unscoped, tenant.user_id)
    # Enabling the user again does not bring old tokens back; new ones work.
    _set_user(cloud, tenant, enabled=True)
    assert _dead(cloud, tenant.token, tenant.user_id)
    fresh = issue(cloud, tenant.user_name, tenant.password, tenant.project_name).token
    assert _works(cloud, fresh, tenant.user_id)


def test_deleting_the_user(cloud, tenant):
    cloud.identity.DeleteUser(ipb.DeleteUserRequest(id=tenant.user_id), metadata=cloud.admin)
    assert _dead(cloud, tenant.token, tenant.user_id)


def test_disabling_the_project_spares_other_scopes(cloud, tenant):
    other = new_project(cloud, "other")
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=tenant.user_id, project_id=other.id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    elsewhere = issue(cloud, tenant.user_name, tenant.password, other.name).token
    unscoped = issue(cloud, tenant.user_name, tenant.password).token
    _set_project(cloud, tenant.project_id, enabled=False)
    assert _dead(cloud, tenant.token, tenant.user_id)
    assert _works(cloud, elsewhere, tenant.user_id)
    assert _works(cloud, unscoped, tenant.user_id)
    _set_project(cloud, tenant.project_id, enabled=True)
    assert _dead(cloud, tenant.token, tenant.user_id)


def test_deleting_the_project(cloud, tenant):
    unscoped = issue(cloud, tenant.user_name, tenant.password).token
    cloud.identity.DeleteProject(
        ipb.DeleteProjectRequest(id=tenant.project_id), metadata=cloud.admin
    )
    assert _dead(cloud, tenant.token, tenant.user_id)
    assert _works(cloud, unscoped, tenant.user_id)


def test_admin_resetting_the_password(cloud, tenant):
    cloud.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=tenant.user_id),
            update_mask=mask("password"),
            password="a-brand-new-password",
        ),
        metadata=cloud.admin,
    )
    assert _dead(cloud, tenant.token, tenant.user_id)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"):
        issue(cloud, tenant.user_name, tenant.password)
    assert _works(
        cloud, issue(cloud, tenant.user_name, "a-brand-new-password").token, tenant.user_id
    )


def test_user_changing_their_password(cloud, tenant):
    cloud.identity.ChangePassword(
        ipb.ChangePasswordRequest(
            user_id=tenant.user_id,
            original_password=tenant.password,
            new_password="my-own-new-password",
        ),
        metadata=tenant.metadata,
    )
    assert _dead(cloud, tenant.token, tenant.user_id)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"):
        issue(cloud, tenant.user_name, tenant.password)
    assert _works(
        cloud, issue(cloud, tenant.user_name, "my-own-new-password").token, tenant.user_id
    )


def test_removing_the_role(cloud, tenant):
    reader = role_id(cloud, "reader")
    other = new_project(cloud, "kept")
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(user_id=tenant.user_id, project_id=other.id, role_id=reader),
        metadata=cloud.admin,
    )
    elsewhere = issue(cloud, tenant.user_name, tenant.password, other.name).token
    cloud.identity.UnassignRole(
        ipb.UnassignRoleRequest(
            user_id=tenant.user_id, project_id=tenant.project_id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    assert _dead(cloud, tenant.token, tenant.user_id)
    assert _works(cloud, elsewhere, tenant.user_id)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "NO_PROJECT_ACCESS"):
        issue(cloud, tenant.user_name, tenant.password, tenant.project_name)


def test_removing_one_of_two_roles(cloud, tenant):
    # The token no longer carries the removed role, whichever way it is checked.
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=tenant.user_id, project_id=tenant.project_id, role_id=role_id(cloud, "reader")
        ),
        metadata=cloud.admin,
    )
    both = issue(cloud, tenant.user_name, tenant.password, tenant.project_name)
    assert list(both.info.roles) == ["member", "reader"]
    assert _works(cloud, both.token, tenant.user_id)
    cloud.identity.UnassignRole(
        ipb.UnassignRoleRequest(
            user_id=tenant.user_id, project_id=tenant.project_id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    with raises(grpc.StatusCode.NOT_FOUND, "TOKEN_NOT_FOUND"):
        cloud.identity.ValidateToken(
            ipb.ValidateTokenRequest(token=both.token), metadata=cloud.admin
        )
    again = issue(cloud, tenant.user_name, tenant.password, tenant.project_name)
    assert list(again.info.roles) == ["reader"]


def test_revoking_one_token_spares_the_users_others(cloud, tenant):
    other = issue(cloud, tenant.user_name, tenant.password, tenant.project_name).token
    cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=tenant.token), metadata=tenant.metadata)
    assert _dead(cloud, tenant.token, tenant.user_id)
    assert _works(cloud, other, tenant.user_id)
