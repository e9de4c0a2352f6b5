"""Users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, ChangePassword."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    MISSING_ID,
    PASSWORD,
    bearer,
    issue,
    list_all,
    mask,
    new_project,
    new_user,
    unchanged,
    unknown_id,
)
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def bob(cloud):
    return new_user(cloud, "bob", email="bob@example.org", description="the builder")


# -- CreateUser ---------------------------------------------------------------------------------


def test_create_returns_the_user(cloud):
    project = new_project(cloud)
    user = new_user(
        cloud, "carol", email="carol@example.org", description="d", default_project_id=project.id
    )
    assert (user.email, user.description, user.default_project_id, user.enabled) == (
        "carol@example.org",
        "d",
        project.id,
        True,
    )
    assert len(user.id) == 36 and user.create_time.seconds > 0
    assert cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=cloud.admin) == user
    assert issue(cloud, user.name).info.user_id == user.id


@pytest.mark.parametrize(
    "user, password, field",
    [
        (ipb.User(name=""), PASSWORD, "user.name"),
        (ipb.User(name="   "), PASSWORD, "user.name"),
        (ipb.User(name="x" * 256), PASSWORD, "user.name"),
        (ipb.User(name="tab\there"), PASSWORD, "user.name"),
        (ipb.User(name="ok-name", email="e" * 256), PASSWORD, "user.email"),
        (ipb.User(name="ok-name", description="d" * 65536), PASSWORD, "user.description"),
        (
            ipb.User(name="ok-name", default_project_id="not-a-uuid"),
            PASSWORD,
            "user.default_project_id",
        ),
        (ipb.User(name="ok-name"), "short", "password"),
        (ipb.User(name="ok-name"), "", "password"),
        (ipb.User(name="ok-name"), "p" * 1025, "password"),
    ],
)
def test_create_refuses_bad_input(cloud, user, password, field):
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.CreateUser(
            ipb.CreateUserRequest(user=user, password=password), metadata=cloud.admin
        )


def test_create_accepts_the_longest_name(cloud):
    name = unique("n").ljust(255, "n")
    user = cloud.identity.CreateUser(
        ipb.CreateUserRequest(user=ipb.User(name=name, enabled=True), password=PASSWORD),
        metadata=cloud.admin,
    )
    assert user.name == name


def test_create_refuses_an_unknown_default_project(cloud):
    with unchanged(cloud), raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        cloud.identity.CreateUser(
            ipb.CreateUserRequest(
                user=ipb.User(name=unique("u"), default_project_id=unknown_id()), password=PASSWORD
            ),
            metadata=cloud.admin,
        )


def test_create_refuses_a_duplicate_name(cloud, bob):
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "USER_EXISTS"):
        cloud.identity.CreateUser(
            ipb.CreateUserRequest(user=ipb.User(name=bob.name), password=PASSWORD),
            metadata=cloud.admin,
        )
    # The first user keeps their password.
    assert issue(cloud, bob.name).info.user_id == bob.id


# -- GetUser / ListUsers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_id, code, reason",
    [
        ("", INVALID, "INVALID_ARGUMENT"),
        ("not-a-uuid", INVALID, "INVALID_ARGUMENT"),
        (MISSING_ID, grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND"),
    ],
)
def test_get_refuses(cloud, user_id, code, reason):
    with raises(code, reason, "id" if code == INVALID else None):
        cloud.identity.GetUser(ipb.GetUserRequest(id=user_id), metadata=cloud.admin)


def test_list_filters_by_name_and_enabled(cloud, bob):
    off = new_user(cloud, "off", enabled=False)
    found = cloud.identity.ListUsers(
        ipb.ListUsersRequest(name=bob.name), metadata=cloud.admin
    ).users
    assert [u.id for u in found] == [bob.id]
    assert not cloud.identity.ListUsers(
        ipb.ListUsersRequest(name=bob.name, enabled=False), metadata=cloud.admin
    ).users
    disabled = list_all(cloud.identity, "users", cloud.admin, enabled=False)
    assert off.id in [u.id for u in disabled] and not any(u.enabled for u in disabled)
    assert bob.id not in [u.id for u in disabled]


def test_list_refuses_a_negative_page_size(cloud):
    with raises(INVALID, "INVALID_ARGUMENT", "page_size"):
        cloud.identity.ListUsers(ipb.ListUsersRequest(page_size=-1), metadata=cloud.admin)


# -- UpdateUser ---------------------------------------------------------------------------------


def test_update_changes_only_the_masked_fields(cloud):
    user = new_user(cloud, "dave", email="dave@example.org")
    project = new_project(cloud)
    changed = cloud.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(
                id=user.id,
                name=unique("david"),
                email="ignored@example.org",
                description="new",
                default_project_id=project.id.upper(),
            ),
            update_mask=mask("name", "description", "default_project_id"),
        ),
        metadata=cloud.admin,
    )
    assert changed.email == "dave@example.org"
    assert changed.description == "new" and changed.default_project_id == project.id
    assert (
        changed.name.startswith("david")
        and changed.update_time.ToDatetime() >= user.update_time.ToDatetime()
    )
    assert cloud.identity.GetUser(ipb.GetUserRequest(id=user.id), metadata=cloud.admin) == changed
    cleared = cloud.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=user.id, default_project_id=""), update_mask=mask("default_project_id")
        ),
        metadata=cloud.admin,
    )
    assert cleared.default_project_id == ""


@pytest.mark.parametrize(
    "user, paths, field",
    [
        (ipb.User(id="not-a-uuid", name="x"), ["name"], "user.id"),
        (ipb.User(name="x"), ["name"], "user.id"),
        ("BOB", [], "update_mask"),
        ("BOB", ["id"], "update_mask"),
        ("BOB", ["password_hash"], "update_mask"),
        ("BOB", ["name", "create_time"], "update_mask"),
        (ipb.User(name=""), ["name"], "user.name"),
        (ipb.User(name="x" * 256), ["name"], "user.name"),
        (ipb.User(email="e" * 256), ["email"], "user.email"),
        (ipb.User(description="d" * 65536), ["description"], "user.description"),
        (ipb.User(default_project_id="nope"), ["default_project_id"], "user.default_project_id"),
        (ipb.User(), ["password"], "password"),
    ],
)
def test_update_refuses_bad_input(cloud, bob, user, paths, field):
    user = ipb.User(id=bob.id) if user == "BOB" else user
    if not user.id and field != "user.id":
        user.id = bob.id
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.UpdateUser(
            ipb.UpdateUserRequest(user=user, update_mask=mask(*paths), password="short"),
            metadata=cloud.admin,
        )


def test_update_refuses_unknown_user_project_and_duplicate_name(cloud, bob):
    other = new_user(cloud, "erin")
    cases = [
        (
            ipb.User(id=unknown_id(), description="x"),
            ["description"],
            grpc.StatusCode.NOT_FOUND,
            "USER_NOT_FOUND",
        ),
        (
            ipb.User(id=bob.id, default_project_id=unknown_id()),
            ["default_project_id"],
            grpc.StatusCode.NOT_FOUND,
            "PROJECT_NOT_FOUND",
        ),
        (
            ipb.User(id=bob.id, name=other.name),
            ["name"],
            grpc.StatusCode.ALREADY_EXISTS,
            "USER_EXISTS",
        ),
    ]
    for user, paths, code, reason in cases:
        with unchanged(cloud), raises(code, reason):
            cloud.identity.UpdateUser(
                ipb.UpdateUserRequest(user=user, update_mask=mask(*paths)), metadata=cloud.admin
            )


# -- DeleteUser ---------------------------------------------------------------------------------


def test_delete_removes_the_user_and_their_assignments(cloud):
    tenant = cloud.tenant("member")
    cloud.identity.DeleteUser(ipb.DeleteUserRequest(id=tenant.user_id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND"):
        cloud.identity.GetUser(ipb.GetUserRequest(id=tenant.user_id), metadata=cloud.admin)
    assert not list_all(cloud.identity, "assignments", cloud.admin, user_id=tenant.user_id)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"):
        issue(cloud, tenant.user_name, tenant.password)
    # Its project stays.
    assert cloud.identity.GetProject(
        ipb.GetProjectRequest(id=tenant.project_id), metadata=cloud.admin
    )
    with unchanged(cloud), raises(grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND"):
        cloud.identity.DeleteUser(ipb.DeleteUserRequest(id=tenant.user_id), metadata=cloud.admin)


@pytest.mark.parametrize("user_id", ["", "123"])
def test_delete_refuses_a_bad_id(cloud, user_id):
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", "id"):
        cloud.identity.DeleteUser(ipb.DeleteUserRequest(id=user_id), metadata=cloud.admin)


# -- ChangePassword -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frank(cloud):
    return cloud.tenant("reader")


@pytest.mark.parametrize(
    "original, new, field",
    [
        ("", "long-enough-password", "original_password"),
        ("PASSWORD", "short", "new_password"),
        ("PASSWORD", "", "new_password"),
    ],
)
def test_change_password_refuses_bad_input(cloud, frank, original, new, field):
    original = frank.password if original == "PASSWORD" else original
    with raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.ChangePassword(
            ipb.ChangePasswordRequest(
                user_id=frank.user_id, original_password=original, new_password=new
            ),
            metadata=frank.metadata,
        )
    assert issue(cloud, frank.user_name, frank.password).token


def test_change_password_needs_the_original(cloud, frank):
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED"):
        cloud.identity.ChangePassword(
            ipb.ChangePasswordRequest(
                user_id=frank.user_id,
                original_password="not-the-password",
                new_password="long-enough-password",
            ),
            metadata=frank.metadata,
        )
    # Nothing changed: the old password and the caller's token still work.
    assert issue(cloud, frank.user_name, frank.password).token
    assert cloud.identity.GetUser(ipb.GetUserRequest(id=frank.user_id), metadata=frank.metadata)


def test_change_password_is_for_oneself(cloud, frank, bob):
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        cloud.identity.ChangePassword(
            ipb.ChangePasswordRequest(
                user_id=bob.id, original_password=PASSWORD, new_password="long-enough-password"
            ),
            metadata=frank.metadata,
        )
    assert issue(cloud, bob.name).token


def test_change_password_works_with_an_unscoped_token(cloud):
    user = new_user(cloud, "grace")
    token = issue(cloud, user.name).token
    cloud.identity.ChangePassword(
        ipb.ChangePasswordRequest(
            user_id=user.id, original_password=PASSWORD, new_password="graces-new-password"
        ),
        metadata=bearer(token),
    )
    assert issue(cloud, user.name, "graces-new-password").info.user_id == user.id
