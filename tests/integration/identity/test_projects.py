"""Projects: CreateProject, GetProject, ListProjects, UpdateProject, DeleteProject."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    MISSING_ID,
    list_all,
    mask,
    new_project,
    new_user,
    role_id,
    unchanged,
    unknown_id,
)
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def project_fixture(cloud):
    return new_project(cloud, "proj", description="first")


def test_create_returns_the_project(cloud):
    created = new_project(cloud, "p", description="a description")
    assert (created.description, created.enabled, len(created.id)) == ("a description", True, 36)
    assert (
        cloud.identity.GetProject(ipb.GetProjectRequest(id=created.id), metadata=cloud.admin)
        == created
    )


@pytest.mark.parametrize(
    "project, field",
    [
        (ipb.Project(name=""), "project.name"),
        (ipb.Project(name=" \t "), "project.name"),
        (ipb.Project(name="x" * 256), "project.name"),
        (ipb.Project(name="new\nline"), "project.name"),
        (ipb.Project(name="ok", description="d" * 65536), "project.description"),
    ],
)
def test_create_refuses_bad_input(cloud, project, field):
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.CreateProject(
            ipb.CreateProjectRequest(project=project), metadata=cloud.admin
        )


def test_create_refuses_a_duplicate_name(cloud, project_fixture):
    project = project_fixture
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "PROJECT_EXISTS"):
        cloud.identity.CreateProject(
            ipb.CreateProjectRequest(project=ipb.Project(name=project.name)), metadata=cloud.admin
        )


@pytest.mark.parametrize(
    "project_id, code, reason",
    [
        ("", INVALID, "INVALID_ARGUMENT"),
        ("zzz", INVALID, "INVALID_ARGUMENT"),
        (MISSING_ID, grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"),
    ],
)
def test_get_and_delete_refuse(cloud, project_id, code, reason):
    field = "id" if code == INVALID else None
    with raises(code, reason, field):
        cloud.identity.GetProject(ipb.GetProjectRequest(id=project_id), metadata=cloud.admin)
    with unchanged(cloud), raises(code, reason, field):
        cloud.identity.DeleteProject(ipb.DeleteProjectRequest(id=project_id), metadata=cloud.admin)


def test_list_filters(cloud, project_fixture):
    project = project_fixture
    off = new_project(cloud, "off", enabled=False)
    assert [
        p.id
        for p in cloud.identity.ListProjects(
            ipb.ListProjectsRequest(name=project.name), metadata=cloud.admin
        ).projects
    ] == [project.id]
    disabled = list_all(cloud.identity, "projects", cloud.admin, enabled=False)
    assert off.id in [p.id for p in disabled] and not any(p.enabled for p in disabled)
    user = new_user(cloud, "lister")
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(user_id=user.id, project_id=off.id, role_id=role_id(cloud, "reader")),
        metadata=cloud.admin,
    )
    assert [p.id for p in list_all(cloud.identity, "projects", cloud.admin, user_id=user.id)] == [
        off.id
    ]
    assert not list_all(cloud.identity, "projects", cloud.admin, user_id=user.id, enabled=True)
    assert not list_all(cloud.identity, "projects", cloud.admin, user_id=unknown_id())


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"page_size": -5}, "page_size"),
        ({"user_id": "not-a-uuid"}, "user_id"),
    ],
)
def test_list_refuses_bad_input(cloud, request_fields, field):
    with raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.ListProjects(ipb.ListProjectsRequest(**request_fields), metadata=cloud.admin)


def test_update_changes_only_the_masked_fields(cloud):
    created = new_project(cloud, "upd", description="before")
    name = unique("renamed")
    changed = cloud.identity.UpdateProject(
        ipb.UpdateProjectRequest(
            project=ipb.Project(id=created.id, name=name, description="ignored", enabled=False),
            update_mask=mask("name"),
        ),
        metadata=cloud.admin,
    )
    assert (changed.name, changed.description, changed.enabled) == (name, "before", True)
    changed = cloud.identity.UpdateProject(
        ipb.UpdateProjectRequest(
            project=ipb.Project(id=created.id, description="after"), update_mask=mask("description")
        ),
        metadata=cloud.admin,
    )
    assert (changed.name, changed.description) == (name, "after")
    assert (
        cloud.identity.GetProject(ipb.GetProjectRequest(id=created.id), metadata=cloud.admin)
        == changed
    )


@pytest.mark.parametrize(
    "project, paths, field",
    [
        (ipb.Project(id="bad", name="x"), ["name"], "project.id"),
        ("P", [], "update_mask"),
        ("P", ["id"], "update_mask"),
        ("P", ["name", "bogus"], "update_mask"),
        (ipb.Project(name=""), ["name"], "project.name"),
        (ipb.Project(name="x" * 256), ["name"], "project.name"),
        (ipb.Project(description="d" * 65536), ["description"], "project.description"),
    ],
)
def test_update_refuses_bad_input(cloud, project_fixture, project, paths, field):
    project = ipb.Project() if project == "P" else project
    project.id = project.id or project_fixture.id
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.UpdateProject(
            ipb.UpdateProjectRequest(project=project, update_mask=mask(*paths)),
            metadata=cloud.admin,
        )


def test_update_refuses_unknown_project_and_duplicate_name(cloud, project_fixture):
    project = project_fixture
    other = new_project(cloud, "other")
    with unchanged(cloud), raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        cloud.identity.UpdateProject(
            ipb.UpdateProjectRequest(
                project=ipb.Project(id=unknown_id(), name="x"), update_mask=mask("name")
            ),
            metadata=cloud.admin,
        )
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "PROJECT_EXISTS"):
        cloud.identity.UpdateProject(
            ipb.UpdateProjectRequest(
                project=ipb.Project(id=other.id, name=project.name), update_mask=mask("name")
            ),
            metadata=cloud.admin,
        )


def test_delete_removes_the_project_its_assignments_and_default_project_references(cloud):
    created = new_project(cloud, "doomed")
    user = new_user(cloud, "homeless", default_project_id=created.id)
    cloud.identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=user.id, project_id=created.id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    cloud.identity.DeleteProject(ipb.DeleteProjectRequest(id=created.id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        cloud.identity.GetProject(ipb.GetProjectRequest(id=created.id), metadata=cloud.admin)
    assert not list_all(cloud.identity, "assignments", cloud.admin, project_id=created.id)
    assert (
        cloud.identity.GetUser(
            ipb.GetUserRequest(id=user.id), metadata=cloud.admin
        ).default_project_id
        == ""
    )


def test_a_project_read_before_a_change_is_read_changed_after_it(cloud):
    """GetProject answers from a cache (project_reads.py); a write here empties it."""
    created = new_project(cloud, "cached", description="before")
    get = ipb.GetProjectRequest(id=created.id)
    assert cloud.identity.GetProject(get, metadata=cloud.admin) == created
    changed = cloud.identity.UpdateProject(
        ipb.UpdateProjectRequest(
            project=ipb.Project(id=created.id, description="after"), update_mask=mask("description")
        ),
        metadata=cloud.admin,
    )
    assert cloud.identity.GetProject(get, metadata=cloud.admin) == changed
    cloud.identity.DeleteProject(ipb.DeleteProjectRequest(id=created.id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        cloud.identity.GetProject(get, metadata=cloud.admin)
