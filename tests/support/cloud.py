"""A client's view of a running controller: channels, tokens, and tenants made on demand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc

from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from tests.support.controller import ADMIN_PASSWORD


@dataclass
class Tenant:
    project_id: str
    project_name: str
    user_id: str
    user_name: str
    password: str
    token: str

    @property
    def metadata(self):
        return (("authorization", f"Bearer {self.token}"),)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Cloud:
    def __init__(self, address: str):
        self.address = address
        self.channel = grpc.insecure_channel(address)
        self.identity = ipb_grpc.IdentityServiceStub(self.channel)
        self.admin_token = self.token("admin", ADMIN_PASSWORD, "admin")

    @property
    def admin(self):
        """Metadata carrying the admin token."""
        return (("authorization", f"Bearer {self.admin_token}"),)

    def token(self, user: str, password: str, project: str | None = None) -> str:
        return self.identity.IssueToken(
            ipb.IssueTokenRequest(user_name=user, password=password, project_name=project or "")
        ).token

    def tenant(self, role: str = "member", project_id: str | None = None) -> Tenant:
        """A new user with `role` on a new project (or on `project_id`), and its scoped token."""
        if project_id is None:
            project = self.identity.CreateProject(
                ipb.CreateProjectRequest(project=ipb.Project(name=unique("project"), enabled=True)),
                metadata=self.admin,
            )
        else:
            project = self.identity.GetProject(
                ipb.GetProjectRequest(id=project_id), metadata=self.admin
            )
        password = "pw-" + uuid.uuid4().hex
        user = self.identity.CreateUser(
            ipb.CreateUserRequest(
                user=ipb.User(name=unique("user"), enabled=True), password=password
            ),
            metadata=self.admin,
        )
        roles = self.identity.ListRoles(ipb.ListRolesRequest(name=role), metadata=self.admin).roles
        self.identity.AssignRole(
            ipb.AssignRoleRequest(user_id=user.id, project_id=project.id, role_id=roles[0].id),
            metadata=self.admin,
        )
        token = self.token(user.name, password, project.name)
        return Tenant(project.id, project.name, user.id, user.name, password, token)

    def close(self):
        self.channel.close()
