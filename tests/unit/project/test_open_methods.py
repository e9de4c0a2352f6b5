"""The README's "Security model" names every method that takes no token, and only those.

The open methods are read from the running controller: on the public listener, the methods of
the pipeline-wrapped services whose spec is open plus every method of the services served
unwrapped (health, reflection), as server reflection lists them; on the node listener, the
node services' open methods (there a method that declares no rule is open: the client
certificate names the caller).
"""

import re
from pathlib import Path

from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from controller.rpc.policy_spec import MethodSpec, specs_for

README = Path(__file__).resolve().parents[3] / "README.md"
METHOD = re.compile(r"`((?:stratus|grpc)\.[\w.]+\.\w+/\w+)`")


def readme_lists() -> tuple[set[str], set[str]]:
    """(public, node listener) method names in the Security model's bullet on open methods."""
    section = README.read_text().split("\n## Security model\n", 1)[1].split("\n## ", 1)[0]
    bullet = section.split("\n- Every call needs a valid token", 1)[1].split("\n- ", 1)[0]
    public, node = bullet.split("The node listener's methods", 1)
    return set(METHOD.findall(public)), set(METHOD.findall(node))


def served_services(channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    replies = stub.ServerReflectionInfo(iter([request]), timeout=10)
    return {service.name for reply in replies for service in reply.list_services_response.service}


def open_methods(registrations, default: MethodSpec | None = None) -> set[str]:
    return {
        name.lstrip("/")
        for r in registrations
        for name, spec in specs_for(r.servicer, r.descriptor, default).items()
        if spec.is_open
    }


def test_the_readme_lists_the_methods_open_on_the_public_listener(controller, cloud):
    wrapped = {r.descriptor.full_name for r in controller.app.public_services}
    unwrapped = served_services(cloud.channel) - wrapped
    assert unwrapped == {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
    pool = descriptor_pool.Default()
    expected = open_methods(controller.app.public_services) | {
        f"{name}/{method.name}"
        for name in unwrapped
        for method in pool.FindServiceByName(name).methods
    }
    assert "stratus.identity.v1.IdentityService/IssueToken" in expected
    assert readme_lists()[0] == expected


def test_the_readme_lists_the_node_listener_methods(controller):
    expected = open_methods(controller.app.node_services, default=MethodSpec(None))
    assert "stratus.node.v1.NodeService/Connect" in expected
    assert readme_lists()[1] == expected
