"""The contract from another language: a Node.js client (@grpc/grpc-js, @grpc/proto-loader) loads
protos/ at run time and calls identity. A change to the .proto files that breaks clients
generated from them fails here. `npm ci --prefix tests/integration/identity/node_client`
installs its packages."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.support.cloud import unique
from tests.support.controller import ADMIN_PASSWORD

CLIENT = Path(__file__).parent / "node_client"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_client_calls_identity(cloud):
    assert (CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir(), (
        f"run `npm ci --prefix {CLIENT}`"
    )
    name = unique("node-project")
    done = subprocess.run(
        [NODE, str(CLIENT / "client.js"), cloud.address, ADMIN_PASSWORD, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    codes = out["status_codes"]

    issued = out["issue"]["response"]
    assert issued["token"] and issued["info"]["roles"] == ["admin"]
    assert issued["info"]["user_name"] == "admin" and issued["info"]["expire_time"]["seconds"]

    created = out["create"]["response"]
    assert created["name"] == name and created["enabled"] is True
    assert out["get"]["response"] == created
    # What Node created, Python reads back.
    project = cloud.identity.GetProject(
        ipb.GetProjectRequest(id=created["id"]), metadata=cloud.admin
    )
    assert (project.name, project.description) == (name, "made by the Node.js client")

    assert out["get_without_token"]["error"]["code"] == codes["UNAUTHENTICATED"] == 16
    assert out["get_bad_id"]["error"]["code"] == codes["INVALID_ARGUMENT"] == 3
    assert out["get_bad_id"]["error"]["details"] == "id: must be a UUID"
    assert out["create_duplicate"]["error"]["code"] == codes["ALREADY_EXISTS"] == 6
