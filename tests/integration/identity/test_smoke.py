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
