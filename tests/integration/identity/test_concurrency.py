"""Concurrent requests: unique names hold under a race, and token issue works in parallel."""

from concurrent.futures import ThreadPoolExecutor

import grpc

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import PASSWORD, bearer, list_all, new_user
from tests.support.cloud import unique


def _outcomes(futures):
    ok, failed = [], []
    for future in futures:
        try:
            ok.append(future.result(timeout=120))
        except grpc.RpcError as error:
            failed.append(error.code())
    return ok, failed


def test_twenty_concurrent_creates_of_one_user_name(cloud):
    name = unique("race")
    request = ipb.CreateUserRequest(user=ipb.User(name=name, enabled=True), password=PASSWORD)
    futures = [cloud.identity.CreateUser.future(request, metadata=cloud.admin) for _ in range(20)]
    ok, failed = _outcomes(futures)
    assert len(ok) == 1 and failed == [grpc.StatusCode.ALREADY_EXISTS] * 19
    assert [u.id for u in list_all(cloud.identity, "users", cloud.admin, name=name)] == [ok[0].id]


def test_twenty_concurrent_creates_of_one_project_and_one_role_name(cloud):
    for method, request, what in (
        (
            "CreateProject",
            ipb.CreateProjectRequest(project=ipb.Project(name=unique("race"))),
            "projects",
        ),
        ("CreateRole", ipb.CreateRoleRequest(role=ipb.Role(name=unique("race"))), "roles"),
    ):
        futures = [
            getattr(cloud.identity, method).future(request, metadata=cloud.admin) for _ in range(20)
        ]
        ok, failed = _outcomes(futures)
        assert len(ok) == 1 and failed == [grpc.StatusCode.ALREADY_EXISTS] * 19, method
        name = ok[0].name
        assert [m.id for m in list_all(cloud.identity, what, cloud.admin, name=name)] == [ok[0].id]


def test_concurrent_assignments_of_the_same_role(cloud):
    member = cloud.tenant("member")
    reader = cloud.identity.ListRoles(
        ipb.ListRolesRequest(name="reader"), metadata=cloud.admin
    ).roles[0]
    request = ipb.AssignRoleRequest(
        user_id=member.user_id, project_id=member.project_id, role_id=reader.id
    )
    ok, failed = _outcomes(
        [cloud.identity.AssignRole.future(request, metadata=cloud.admin) for _ in range(20)]
    )
    assert failed == [] and len(ok) == 20
    held = list_all(
        cloud.identity,
        "assignments",
        cloud.admin,
        user_id=member.user_id,
        project_id=member.project_id,
    )
    assert sorted(a.role_name for a in held) == ["member", "reader"]


def test_concurrent_token_issue(cloud):
    user = new_user(cloud, "busy")
    request = ipb.IssueTokenRequest(user_name=user.name, password=PASSWORD)
    ok, failed = _outcomes([cloud.identity.IssueToken.future(request) for _ in range(8)])
    assert failed == [] and len({r.token for r in ok}) == 8
    with ThreadPoolExecutor(8) as pool:
        users = list(
            pool.map(
                lambda r: (
                    cloud.identity.GetUser(
                        ipb.GetUserRequest(id=user.id), metadata=bearer(r.token)
                    ).id
                ),
                ok,
            )
        )
    assert users == [user.id] * 8
