"""Shared pieces of the identity tests: state snapshots, paging, requests by method name."""

from __future__ import annotations

import contextlib
import uuid

from google.protobuf import field_mask_pb2

from stratus.identity.v1 import identity_service_pb2 as ipb

SERVICE = ipb.DESCRIPTOR.services_by_name["IdentityService"]
METHODS = [m.name for m in SERVICE.methods]
PASSWORD = "correct-horse-battery"

# (list method, request class, repeated field of the response)
LISTS = {
    "users": ("ListUsers", ipb.ListUsersRequest, "users"),
    "projects": ("ListProjects", ipb.ListProjectsRequest, "projects"),
    "roles": ("ListRoles", ipb.ListRolesRequest, "roles"),
    "assignments": ("ListRoleAssignments", ipb.ListRoleAssignmentsRequest, "role_assignments"),
    "services": ("ListServices", ipb.ListServicesRequest, "services"),
    "endpoints": ("ListEndpoints", ipb.ListEndpointsRequest, "endpoints"),
}


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


def request_class(method: str):
    return getattr(ipb, SERVICE.methods_by_name[method].input_type.name)


def pages(stub, method: str, request, field: str, metadata) -> list[list]:
    """Every page of a List call, following next_page_token to the end."""
    out = []
    while True:
        response = getattr(stub, method)(request, metadata=metadata)
        out.append(list(getattr(response, field)))
        if not response.next_page_token:
            return out
        request.page_token = response.next_page_token


def list_all(stub, what: str, metadata, **filters) -> list:
    method, cls, field = LISTS[what]
    return [
        item
        for page in pages(stub, method, cls(page_size=1000, **filters), field, metadata)
        for item in page
    ]


def snapshot(cloud) -> dict[str, list[bytes]]:
    """Everything the identity service stores, as the admin sees it (sorted serialized messages)."""
    return {
        what: sorted(
            m.SerializeToString(deterministic=True)
            for m in list_all(cloud.identity, what, cloud.admin)
        )
        for what in LISTS
    }


@contextlib.contextmanager
def unchanged(cloud):
    """Asserts the block leaves users, projects, roles, assignments and the catalog as they were."""
    before = snapshot(cloud)
    yield
    after = snapshot(cloud)
    for what in LISTS:
        assert after[what] == before[what], f"a refused request changed the {what}"


# An id no resource has (ids are random UUIDs); a constant, so parametrized test ids are
# the same in every xdist worker.
MISSING_ID = "5d7bd4f8-94c2-4c4b-9b4e-2f1c0d6e8a01"


def reached_server(cloud):
    """Returns once the server has received every call sent before on `cloud`'s channel: a later
    call on the same connection has been answered (HTTP/2 keeps a connection's frames in order)."""
    cloud.identity.GetCatalog(ipb.GetCatalogRequest(), metadata=cloud.admin, timeout=60)


def unknown_id() -> str:
    return str(uuid.uuid4())


def role_id(cloud, name: str) -> str:
    return (
        cloud.identity.ListRoles(ipb.ListRolesRequest(name=name), metadata=cloud.admin).roles[0].id
    )


def new_user(cloud, name_prefix: str = "user", password: str = PASSWORD, **fields) -> ipb.User:
    from tests.support.cloud import unique

    fields.setdefault("enabled", True)
    user = ipb.User(name=unique(name_prefix), **fields)
    return cloud.identity.CreateUser(
        ipb.CreateUserRequest(user=user, password=password), metadata=cloud.admin
    )


def new_project(cloud, name_prefix: str = "project", **fields) -> ipb.Project:
    from tests.support.cloud import unique

    fields.setdefault("enabled", True)
    project = ipb.Project(name=unique(name_prefix), **fields)
    return cloud.identity.CreateProject(
        ipb.CreateProjectRequest(project=project), metadata=cloud.admin
    )


def issue(
    cloud, user_name: str, password: str = PASSWORD, project_name: str = ""
) -> ipb.IssueTokenResponse:
    return cloud.identity.IssueToken(
        ipb.IssueTokenRequest(user_name=user_name, password=password, project_name=project_name)
    )


class Victims:
    """Resources that refused requests aim at: if a refusal let a request through, it would
    change one of these, and `unchanged` would see it."""

    def __init__(self, cloud):
        from tests.support.cloud import unique

        ident, admin = cloud.identity, cloud.admin
        self.project = new_project(cloud, "victim-project")
        self.user = new_user(cloud, "victim-user")
        self.member_role = role_id(cloud, "member")
        ident.AssignRole(
            ipb.AssignRoleRequest(
                user_id=self.user.id, project_id=self.project.id, role_id=self.member_role
            ),
            metadata=admin,
        )
        self.spare_role = ident.CreateRole(
            ipb.CreateRoleRequest(role=ipb.Role(name=unique("victim-role"))), metadata=admin
        )
        self.service = ident.CreateService(
            ipb.CreateServiceRequest(
                service=ipb.Service(type="victim", name=unique("victim-service"), enabled=True)
            ),
            metadata=admin,
        )
        self.endpoint = ident.CreateEndpoint(
            ipb.CreateEndpointRequest(
                endpoint=ipb.Endpoint(
                    service_id=self.service.id,
                    interface=ipb.ENDPOINT_INTERFACE_PUBLIC,
                    region="victim-region",
                    url="https://victim.example",
                    enabled=True,
                )
            ),
            metadata=admin,
        )
        self.token = issue(cloud, self.user.name, project_name=self.project.name).token

    def request(self, method: str):
        """A well-formed request of `method` that would change or reveal a victim."""
        from tests.support.cloud import unique

        p, u, s, e = self.project, self.user, self.service, self.endpoint
        return {
            "IssueToken": lambda: ipb.IssueTokenRequest(user_name=u.name, password=PASSWORD),
            "ValidateToken": lambda: ipb.ValidateTokenRequest(token=self.token),
            "RevokeToken": lambda: ipb.RevokeTokenRequest(token=self.token),
            "GetCatalog": ipb.GetCatalogRequest,
            "CreateUser": lambda: ipb.CreateUserRequest(
                user=ipb.User(name=unique("intruder"), enabled=True), password=PASSWORD
            ),
            "GetUser": lambda: ipb.GetUserRequest(id=u.id),
            "ListUsers": ipb.ListUsersRequest,
            "UpdateUser": lambda: ipb.UpdateUserRequest(
                user=ipb.User(id=u.id, enabled=False), update_mask=mask("enabled")
            ),
            "DeleteUser": lambda: ipb.DeleteUserRequest(id=u.id),
            "ChangePassword": lambda: ipb.ChangePasswordRequest(
                user_id=u.id, original_password=PASSWORD, new_password="another-long-password"
            ),
            "CreateProject": lambda: ipb.CreateProjectRequest(
                project=ipb.Project(name=unique("intruder"))
            ),
            "GetProject": lambda: ipb.GetProjectRequest(id=p.id),
            "ListProjects": ipb.ListProjectsRequest,
            "UpdateProject": lambda: ipb.UpdateProjectRequest(
                project=ipb.Project(id=p.id, description="owned"), update_mask=mask("description")
            ),
            "DeleteProject": lambda: ipb.DeleteProjectRequest(id=p.id),
            "CreateRole": lambda: ipb.CreateRoleRequest(role=ipb.Role(name=unique("intruder"))),
            "GetRole": lambda: ipb.GetRoleRequest(id=self.spare_role.id),
            "ListRoles": ipb.ListRolesRequest,
            "DeleteRole": lambda: ipb.DeleteRoleRequest(id=self.spare_role.id),
            "AssignRole": lambda: ipb.AssignRoleRequest(
                user_id=u.id, project_id=p.id, role_id=self.spare_role.id
            ),
            "UnassignRole": lambda: ipb.UnassignRoleRequest(
                user_id=u.id, project_id=p.id, role_id=self.member_role
            ),
            "ListRoleAssignments": ipb.ListRoleAssignmentsRequest,
            "CreateService": lambda: ipb.CreateServiceRequest(
                service=ipb.Service(type="intruder", name="x")
            ),
            "GetService": lambda: ipb.GetServiceRequest(id=s.id),
            "ListServices": ipb.ListServicesRequest,
            "UpdateService": lambda: ipb.UpdateServiceRequest(
                service=ipb.Service(id=s.id, enabled=False), update_mask=mask("enabled")
            ),
            "DeleteService": lambda: ipb.DeleteServiceRequest(id=s.id),
            "CreateEndpoint": lambda: ipb.CreateEndpointRequest(
                endpoint=ipb.Endpoint(
                    service_id=s.id,
                    interface=ipb.ENDPOINT_INTERFACE_ADMIN,
                    region="victim-region",
                    url="https://intruder.example",
                )
            ),
            "GetEndpoint": lambda: ipb.GetEndpointRequest(id=e.id),
            "ListEndpoints": ipb.ListEndpointsRequest,
            "UpdateEndpoint": lambda: ipb.UpdateEndpointRequest(
                endpoint=ipb.Endpoint(id=e.id, url="https://evil.example"), update_mask=mask("url")
            ),
            "DeleteEndpoint": lambda: ipb.DeleteEndpointRequest(id=e.id),
        }[method]()
