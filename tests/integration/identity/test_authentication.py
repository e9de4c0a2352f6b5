"""The auth interceptor: every IdentityService method but IssueToken refuses a call without a
good token with UNAUTHENTICATED, before the method runs, and changes nothing."""

import datetime

import grpc
import pytest

from controller.auth.fernet_keys import KeyRepository
from controller.auth.token_format import TokenFormatter
from controller.identity.service import key_repository
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import METHODS, bearer, snapshot
from tests.support.errors import raises

GUARDED = [m for m in METHODS if m != "IssueToken"]
UTC = datetime.UTC


def _refused_everywhere(cloud, victims, metadata, reason):
    """Each guarded method, called with a request that would change or reveal a victim, is refused.

    A change made by any of them would persist, so one snapshot after all of them suffices."""
    before = snapshot(cloud)
    for method in GUARDED:
        with raises(grpc.StatusCode.UNAUTHENTICATED, reason):
            getattr(cloud.identity, method)(victims.request(method), metadata=metadata)
    assert snapshot(cloud) == before
    # Neither a refused RevokeToken nor a refused ChangePassword touched the victim's token.
    cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=victims.token), metadata=cloud.admin
    )


@pytest.mark.parametrize("method", GUARDED)
def test_missing_token_is_refused(cloud, victims, method):
    before = snapshot(cloud)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"):
        getattr(cloud.identity, method)(victims.request(method))
    assert snapshot(cloud) == before


def test_issue_token_needs_no_token(cloud, victims):
    response = cloud.identity.IssueToken(victims.request("IssueToken"))
    assert response.info.user_id == victims.user.id


@pytest.mark.parametrize("value", ["Basic YWRtaW46c2VjcmV0", "Bearer", "Token abc", "bearer"])
def test_malformed_authorization_is_refused(cloud, victims, value):
    _refused_everywhere(cloud, victims, (("authorization", value),), "TOKEN_MALFORMED")


def test_the_scheme_alone_must_precede_the_token(cloud, victims):
    # The bare token without "Bearer " is malformed, not accepted.
    _refused_everywhere(cloud, victims, (("authorization", cloud.admin_token),), "TOKEN_MALFORMED")


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "not base64 !"])
def test_garbage_tokens_are_refused(cloud, victims, token):
    _refused_everywhere(cloud, victims, bearer(token), "TOKEN_INVALID")


def _tampered(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("where", [0.2, 0.7])
def test_tampered_admin_token_is_refused(cloud, victims, where):
    token = cloud.admin_token
    _refused_everywhere(
        cloud, victims, bearer(_tampered(token, int(len(token) * where))), "TOKEN_INVALID"
    )


def test_padded_admin_token_is_refused(cloud, victims):
    _refused_everywhere(cloud, victims, bearer(cloud.admin_token + "=="), "TOKEN_INVALID")


def _admin_payload(cloud):
    info = cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=cloud.admin_token), metadata=cloud.admin
    ).info
    return info.user_id, info.project_id


def test_token_from_another_key_repository_is_refused(cloud, victims, tmp_path):
    # A well-formed admin token, signed by keys this controller never had.
    other = KeyRepository(tmp_path / "other-keys")
    other.initialize()
    user_id, project_id = _admin_payload(cloud)
    token, _ = TokenFormatter(other).issue(
        user_id, project_id, ("password",), datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    )
    _refused_everywhere(cloud, victims, bearer(token), "TOKEN_INVALID")


def test_expired_admin_token_is_refused(cloud, victims, controller):
    # Signed with the controller's own keys, issued two hours ago with a one-hour life.
    keys = key_repository(controller.app.config)
    past = datetime.datetime.now(UTC) - datetime.timedelta(hours=2)
    user_id, project_id = _admin_payload(cloud)
    token, _ = TokenFormatter(keys, clock=lambda: past).issue(
        user_id, project_id, ("password",), past + datetime.timedelta(hours=1)
    )
    _refused_everywhere(cloud, victims, bearer(token), "TOKEN_EXPIRED")


def test_same_keys_and_a_fresh_clock_make_a_valid_token(cloud, controller):
    # The control for the two tests above: the forging itself is sound.
    keys = key_repository(controller.app.config)
    user_id, project_id = _admin_payload(cloud)
    token, _ = TokenFormatter(keys).issue(
        user_id, project_id, ("password",), datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    )
    assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(token)).roles


def test_token_of_an_unknown_user_is_refused(cloud, victims, controller):
    keys = key_repository(controller.app.config)
    _, project_id = _admin_payload(cloud)
    token, _ = TokenFormatter(keys).issue(
        "00000000-0000-4000-8000-000000000000",
        project_id,
        ("password",),
        datetime.datetime.now(UTC) + datetime.timedelta(hours=1),
    )
    _refused_everywhere(cloud, victims, bearer(token), "TOKEN_INVALID")


def test_health_and_reflection_are_open(cloud):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    health = health_pb2_grpc.HealthStub(cloud.channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    stub = reflection_pb2_grpc.ServerReflectionStub(cloud.channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name for reply in replies for s in reply.list_services_response.service]
    assert "stratus.identity.v1.IdentityService" in names
