"""x-request-id through the interceptor of every service: kept when a client sends a sane one,
minted otherwise, and returned with answers and refusals alike."""

import uuid

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb


def _request_id(call) -> str:
    return dict(call.trailing_metadata() or ())["x-request-id"]


def test_a_clients_request_id_comes_back(cloud):
    _, call = cloud.identity.ListRoles.with_call(
        ipb.ListRolesRequest(), metadata=(*cloud.admin, ("x-request-id", "client-42.a:b/c"))
    )
    assert _request_id(call) == "client-42.a:b/c"


def test_a_refusal_carries_the_request_id_too(cloud):
    with pytest.raises(grpc.RpcError) as failure:
        cloud.identity.GetUser(
            ipb.GetUserRequest(id="bad"), metadata=(*cloud.admin, ("x-request-id", "trace-7"))
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _request_id(failure.value) == "trace-7"


def test_without_one_the_controller_mints_one(cloud):
    _, first = cloud.identity.ListRoles.with_call(ipb.ListRolesRequest(), metadata=cloud.admin)
    _, second = cloud.identity.ListRoles.with_call(ipb.ListRolesRequest(), metadata=cloud.admin)
    assert _request_id(first).startswith("req-") and _request_id(first) != _request_id(second)
    minted = uuid.UUID(_request_id(first).removeprefix("req-"))
    assert minted.version == 4 and f"req-{minted}" == _request_id(first)


def test_a_long_request_id_is_cut(cloud):
    _, call = cloud.identity.ListRoles.with_call(
        ipb.ListRolesRequest(), metadata=(*cloud.admin, ("x-request-id", "x" * 300))
    )
    assert _request_id(call) == "x" * 128


@pytest.mark.parametrize("forged", ["abc level=error msg=forged", 'a"b', ""])
def test_an_id_that_could_forge_log_lines_is_replaced(cloud, forged):
    # Log lines are key=value text: an id with spaces or quotes could add fields to them.
    _, call = cloud.identity.ListRoles.with_call(
        ipb.ListRolesRequest(), metadata=(*cloud.admin, ("x-request-id", forged))
    )
    assert _request_id(call).startswith("req-")
