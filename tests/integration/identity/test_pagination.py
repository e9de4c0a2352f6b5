"""Every List walks several pages in a stable order, with page tokens bound to their filters."""

import base64
import hashlib
import json

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    LISTS,
    PASSWORD,
    list_all,
    new_project,
    pages,
    role_id,
)
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def world(cloud):
    """Five of everything, tied together so that each List has a filter that selects exactly
    them."""
    ident, admin = cloud.identity, cloud.admin
    kind = unique("paged").lower()
    users = [
        ident.CreateUser(
            ipb.CreateUserRequest(
                user=ipb.User(name=unique(f"paged-{i}"), enabled=False), password=PASSWORD
            ),
            metadata=admin,
        )
        for i in range(5)
    ]
    projects = [new_project(cloud, "paged") for _ in range(5)]
    roles = [
        ident.CreateRole(ipb.CreateRoleRequest(role=ipb.Role(name=unique("paged"))), metadata=admin)
        for _ in range(5)
    ]
    member = role_id(cloud, "member")
    for project in projects:
        ident.AssignRole(
            ipb.AssignRoleRequest(user_id=users[0].id, project_id=project.id, role_id=member),
            metadata=admin,
        )
    services = [
        ident.CreateService(
            ipb.CreateServiceRequest(service=ipb.Service(type=kind, name=unique("paged"))),
            metadata=admin,
        )
        for _ in range(5)
    ]
    endpoints = [
        ident.CreateEndpoint(
            ipb.CreateEndpointRequest(
                endpoint=ipb.Endpoint(
                    service_id=services[0].id,
                    interface=ipb.ENDPOINT_INTERFACE_PUBLIC,
                    region=f"{kind}-{i}",
                    url="https://paged.example",
                )
            ),
            metadata=admin,
        )
        for i in range(5)
    ]
    return {
        "users": users,
        "projects": projects,
        "roles": roles,
        "services": services,
        "endpoints": endpoints,
        "kind": kind,
    }


def _filters(world, what):
    return {
        "users": {"enabled": False},
        "projects": {"user_id": world["users"][0].id},
        "roles": {},
        "assignments": {"user_id": world["users"][0].id},
        "services": {"type": world["kind"]},
        "endpoints": {"service_id": world["services"][0].id},
    }[what]


def _sort_key(what):
    return {
        "users": lambda m: (m.name, m.id),
        "projects": lambda m: (m.name, m.id),
        "roles": lambda m: (m.name, m.id),
        "assignments": lambda m: (m.user_id, m.project_id, m.role_id),
        "services": lambda m: (m.type, m.id),
        "endpoints": lambda m: m.id,
    }[what]


@pytest.mark.parametrize("what", list(LISTS))
def test_pages_cover_everything_once_in_order(cloud, world, what):
    method, cls, field = LISTS[what]
    filters = _filters(world, what)
    everything = list_all(cloud.identity, what, cloud.admin, **filters)
    assert len(everything) >= 5
    walked = pages(cloud.identity, method, cls(page_size=2, **filters), field, cloud.admin)
    assert all(len(page) == 2 for page in walked[:-1]) and 1 <= len(walked[-1]) <= 2
    assert len(walked) == (len(everything) + 1) // 2
    flat = [item for page in walked for item in page]
    assert flat == everything
    assert flat == sorted(flat, key=_sort_key(what))


def test_the_made_items_are_found_by_their_filters(cloud, world):
    for what in ("projects", "services", "endpoints"):
        found = {m.id for m in list_all(cloud.identity, what, cloud.admin, **_filters(world, what))}
        assert found == {m.id for m in world[what]}
    assigned = list_all(
        cloud.identity, "assignments", cloud.admin, **_filters(world, "assignments")
    )
    assert sorted(a.project_id for a in assigned) == sorted(p.id for p in world["projects"])


def test_a_token_survives_inserts_before_and_after_its_position(cloud, world):
    # Keyset paging: rows added while a client pages neither repeat nor shift later pages.
    first = cloud.identity.ListRoles(ipb.ListRolesRequest(page_size=3), metadata=cloud.admin)
    for name in ("!" + unique("early"), "~" + unique("late")):  # sorts before and after everything
        cloud.identity.CreateRole(
            ipb.CreateRoleRequest(role=ipb.Role(name=name)), metadata=cloud.admin
        )
    rest = pages(
        cloud.identity,
        "ListRoles",
        ipb.ListRolesRequest(page_size=3, page_token=first.next_page_token),
        "roles",
        cloud.admin,
    )
    seen = [r.name for r in first.roles] + [r.name for page in rest for r in page]
    assert len(seen) == len(set(seen))
    assert seen[-1].startswith("~late") and not any(n.startswith("!early") for n in seen)


def test_page_size_zero_means_fifty_and_large_sizes_are_capped(cloud, world):
    assert len(list_all(cloud.identity, "roles", cloud.admin)) >= 5
    response = cloud.identity.ListRoles(ipb.ListRolesRequest(page_size=0), metadata=cloud.admin)
    assert len(response.roles) <= 50
    assert cloud.identity.ListRoles(
        ipb.ListRolesRequest(page_size=2**31 - 1), metadata=cloud.admin
    ).roles


@pytest.mark.parametrize("what", list(LISTS))
def test_negative_page_size_is_refused(cloud, what):
    method, cls, _ = LISTS[what]
    with raises(INVALID, "INVALID_ARGUMENT", "page_size"):
        getattr(cloud.identity, method)(cls(page_size=-1), metadata=cloud.admin)


def _first_token(cloud, what, world, **extra):
    method, cls, _ = LISTS[what]
    token = getattr(cloud.identity, method)(
        cls(page_size=1, **_filters(world, what), **extra), metadata=cloud.admin
    ).next_page_token
    assert token
    return token


@pytest.mark.parametrize("what", list(LISTS))
def test_a_token_is_bound_to_its_filters(cloud, world, what):
    method, cls, _ = LISTS[what]
    token = _first_token(cloud, what, world)
    changed = {
        "users": {"enabled": True},
        "projects": {"user_id": world["users"][1].id},
        "roles": {"name": "member"},
        "assignments": {"user_id": world["users"][1].id},
        "services": {"type": "identity"},
        "endpoints": {"service_id": world["services"][1].id},
    }[what]
    with raises(INVALID, "INVALID_ARGUMENT", "page_token"):
        getattr(cloud.identity, method)(
            cls(page_size=1, page_token=token, **changed), metadata=cloud.admin
        )


@pytest.mark.parametrize(
    "source, target",
    [
        ("users", "roles"),
        ("roles", "users"),
        ("services", "endpoints"),
        ("assignments", "projects"),
        ("endpoints", "services"),
    ],
)
def test_a_token_of_another_list_is_refused(cloud, world, source, target):
    token = _first_token(cloud, source, world)
    method, cls, _ = LISTS[target]
    with raises(INVALID, "INVALID_ARGUMENT", "page_token"):
        getattr(cloud.identity, method)(
            cls(page_token=token, **_filters(world, target)), metadata=cloud.admin
        )


def _forge(position, filters):
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]
    return (
        base64.urlsafe_b64encode(json.dumps({"a": position, "d": digest}).encode())
        .decode()
        .rstrip("=")
    )


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "%%%",
        "e30",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        _forge("ab", {"name": ""}),
        _forge([{"x": 1}, "y"], {"name": ""}),
        _forge([["a"], "b"], {"name": ""}),
        _forge(["a"], {"name": ""}),
        _forge(None, {"name": ""}),
    ],
)
def test_tokens_the_server_did_not_issue_are_refused(cloud, token):
    with raises(INVALID, "INVALID_ARGUMENT", "page_token"):
        cloud.identity.ListRoles(ipb.ListRolesRequest(page_token=token), metadata=cloud.admin)
