import grpc

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.support.errors import raises


def test_admin_lists_users_and_anonymous_is_refused(cloud):
    users = cloud.identity.ListUsers(ipb.ListUsersRequest(), metadata=cloud.admin).users
    assert "admin" in [u.name for u in users]
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"):
        cloud.identity.ListUsers(ipb.ListUsersRequest())


def test_member_cannot_list_users(cloud):
    tenant = cloud.tenant()
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.ListUsers(ipb.ListUsersRequest(), metadata=tenant.metadata)


def test_resources_are_created_enabled_unless_told_otherwise(cloud):
    from tests.support.cloud import unique

    enabled = cloud.identity.CreateProject(
        ipb.CreateProjectRequest(project=ipb.Project(name=unique("project"))), metadata=cloud.admin
    )
    disabled = cloud.identity.CreateProject(
        ipb.CreateProjectRequest(project=ipb.Project(name=unique("project"), enabled=False)),
        metadata=cloud.admin,
    )
    assert enabled.enabled is True
    assert disabled.enabled is False
