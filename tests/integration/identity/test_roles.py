"""Roles and role assignments: CreateRole, GetRole, ListRoles, DeleteRole, AssignRole,
UnassignRole, ListRoleAssignments."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    MISSING_ID,
    list_all,
    new_project,
    new_user,
    role_id,
    unchanged,
    unknown_id,
)
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def _create_role(cloud, name=None, description=""):
    return cloud.identity.CreateRole(
        ipb.CreateRoleRequest(
            role=ipb.Role(name=unique("role") if name is None else name, description=description)
        ),
        metadata=cloud.admin,
    )


@pytest.fixture(scope="module")
def pair(cloud):
    """A user and a project with no assignment between them."""
    return new_user(cloud, "assignee"), new_project(cloud, "assigned")


# -- roles --------------------------------------------------------------------------------------


def test_bootstrap_made_the_default_roles(cloud):
    names = {r.name for r in list_all(cloud.identity, "roles", cloud.admin)}
    assert {"admin", "member", "reader"} <= names


def test_create_get_and_delete_a_role(cloud):
    role = _create_role(cloud, description="can audit")
    assert cloud.identity.GetRole(ipb.GetRoleRequest(id=role.id), metadata=cloud.admin) == role
    assert [
        r.id
        for r in cloud.identity.ListRoles(
            ipb.ListRolesRequest(name=role.name), metadata=cloud.admin
        ).roles
    ] == [role.id]
    cloud.identity.DeleteRole(ipb.DeleteRoleRequest(id=role.id), metadata=cloud.admin)
    with raises(NOT_FOUND, "ROLE_NOT_FOUND"):
        cloud.identity.GetRole(ipb.GetRoleRequest(id=role.id), metadata=cloud.admin)


@pytest.mark.parametrize(
    "name, field",
    [("", "role.name"), ("r" * 256, "role.name"), ("  ", "role.name"), ("bell\x07", "role.name")],
)
def test_create_refuses_bad_names(cloud, name, field):
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        _create_role(cloud, name)


@pytest.mark.parametrize("name", ["member", "DUPLICATE"])
def test_create_refuses_duplicates(cloud, name):
    if name == "DUPLICATE":
        name = _create_role(cloud).name
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "ROLE_EXISTS"):
        _create_role(cloud, name)


@pytest.mark.parametrize(
    "role_id_, code, reason",
    [
        ("", INVALID, "INVALID_ARGUMENT"),
        ("member", INVALID, "INVALID_ARGUMENT"),
        (MISSING_ID, NOT_FOUND, "ROLE_NOT_FOUND"),
    ],
)
def test_get_and_delete_refuse(cloud, role_id_, code, reason):
    field = "id" if code == INVALID else None
    with raises(code, reason, field):
        cloud.identity.GetRole(ipb.GetRoleRequest(id=role_id_), metadata=cloud.admin)
    with unchanged(cloud), raises(code, reason, field):
        cloud.identity.DeleteRole(ipb.DeleteRoleRequest(id=role_id_), metadata=cloud.admin)


def test_a_role_in_use_cannot_be_deleted(cloud, pair):
    user, project = pair
    role = _create_role(cloud)
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(user_id=user.id, project_id=project.id, role_id=role.id),
        metadata=cloud.admin,
    )
    with unchanged(cloud), raises(grpc.StatusCode.FAILED_PRECONDITION, "ROLE_IN_USE"):
        cloud.identity.DeleteRole(ipb.DeleteRoleRequest(id=role.id), metadata=cloud.admin)
    cloud.identity.UnassignRole(
        ipb.UnassignRoleRequest(user_id=user.id, project_id=project.id, role_id=role.id),
        metadata=cloud.admin,
    )
    cloud.identity.DeleteRole(ipb.DeleteRoleRequest(id=role.id), metadata=cloud.admin)


def test_list_roles_refuses_a_negative_page_size(cloud):
    with raises(INVALID, "INVALID_ARGUMENT", "page_size"):
        cloud.identity.ListRoles(ipb.ListRolesRequest(page_size=-1), metadata=cloud.admin)


# -- assignments --------------------------------------------------------------------------------


def test_assign_is_idempotent_and_names_everything(cloud, pair):
    user, project = pair
    role = _create_role(cloud)
    request = ipb.AssignRoleRequest(user_id=user.id, project_id=project.id, role_id=role.id)
    first = cloud.identity.AssignRole(request, metadata=cloud.admin)
    with unchanged(cloud):
        again = cloud.identity.AssignRole(request, metadata=cloud.admin)
    assert first == again
    assert (first.user_name, first.project_name, first.role_name) == (
        user.name,
        project.name,
        role.name,
    )
    listed = list_all(cloud.identity, "assignments", cloud.admin, user_id=user.id, role_id=role.id)
    assert listed == [first]


@pytest.mark.parametrize("field", ["user_id", "project_id", "role_id"])
@pytest.mark.parametrize("value", ["", "not-a-uuid"])
def test_assign_and_unassign_refuse_bad_ids(cloud, pair, field, value):
    user, project = pair
    ids = {
        "user_id": user.id,
        "project_id": project.id,
        "role_id": role_id(cloud, "member"),
        field: value,
    }
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.AssignRole(ipb.AssignRoleRequest(**ids), metadata=cloud.admin)
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.UnassignRole(ipb.UnassignRoleRequest(**ids), metadata=cloud.admin)


@pytest.mark.parametrize(
    "field, reason",
    [
        ("user_id", "USER_NOT_FOUND"),
        ("project_id", "PROJECT_NOT_FOUND"),
        ("role_id", "ROLE_NOT_FOUND"),
    ],
)
def test_assign_refuses_unknown_ids(cloud, pair, field, reason):
    user, project = pair
    ids = {
        "user_id": user.id,
        "project_id": project.id,
        "role_id": role_id(cloud, "member"),
        field: unknown_id(),
    }
    with unchanged(cloud), raises(NOT_FOUND, reason):
        cloud.identity.AssignRole(ipb.AssignRoleRequest(**ids), metadata=cloud.admin)


def test_unassign_refuses_a_missing_assignment(cloud, pair):
    user, project = pair
    with unchanged(cloud), raises(NOT_FOUND, "ROLE_ASSIGNMENT_NOT_FOUND"):
        cloud.identity.UnassignRole(
            ipb.UnassignRoleRequest(
                user_id=user.id, project_id=project.id, role_id=role_id(cloud, "reader")
            ),
            metadata=cloud.admin,
        )


def test_list_assignments_filters(cloud):
    user, other_user = new_user(cloud, "la"), new_user(cloud, "lb")
    p1, p2 = new_project(cloud, "la"), new_project(cloud, "lb")
    member, reader = role_id(cloud, "member"), role_id(cloud, "reader")
    for u, p, r in [
        (user, p1, member),
        (user, p1, reader),
        (user, p2, reader),
        (other_user, p1, member),
    ]:
        cloud.identity.AssignRole(
            ipb.AssignRoleRequest(user_id=u.id, project_id=p.id, role_id=r), metadata=cloud.admin
        )

    def listed(**filters):
        return sorted(
            (a.user_name, a.project_name, a.role_name)
            for a in list_all(cloud.identity, "assignments", cloud.admin, **filters)
        )

    assert listed(user_id=user.id) == sorted(
        [
            (user.name, p1.name, "member"),
            (user.name, p1.name, "reader"),
            (user.name, p2.name, "reader"),
        ]
    )
    assert listed(project_id=p1.id) == sorted(
        [
            (user.name, p1.name, "member"),
            (user.name, p1.name, "reader"),
            (other_user.name, p1.name, "member"),
        ]
    )
    assert listed(project_id=p1.id, role_id=member) == sorted(
        [(user.name, p1.name, "member"), (other_user.name, p1.name, "member")]
    )
    assert listed(user_id=user.id, project_id=p2.id) == [(user.name, p2.name, "reader")]
    assert listed(user_id=unknown_id()) == []


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"user_id": "x"}, "user_id"),
        ({"project_id": "x"}, "project_id"),
        ({"role_id": "x"}, "role_id"),
        ({"page_size": -1}, "page_size"),
    ],
)
def test_list_assignments_refuses_bad_input(cloud, request_fields, field):
    with raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.ListRoleAssignments(
            ipb.ListRoleAssignmentsRequest(**request_fields), metadata=cloud.admin
        )
