"""Password login: the TokenIssuer that sessions use when they have no valid cached token."""

import re

from cli.token_cache import CachedToken

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def token_request(settings):
    """The IssueTokenRequest for the settings; a project that looks like a UUID is an ID."""
    from stratus.identity.v1 import identity_service_pb2 as pb

    request = pb.IssueTokenRequest(
        user_name=settings.username or "", password=settings.password or ""
    )
    if settings.project and _UUID.fullmatch(settings.project):
        request.project_id = settings.project
    elif settings.project:
        request.project_name = settings.project
    return request


def issue_token(session) -> CachedToken:
    from stratus.identity.v1 import identity_service_pb2_grpc as rpc

    stub = session.stub(rpc.IdentityServiceStub)
    response = session.call(stub.IssueToken, token_request(session.settings), authenticated=False)
    info = response.info
    return CachedToken(
        response.token, info.expire_time.ToNanoseconds() / 1e9, info.user_id, info.project_id
    )


def caller(session) -> CachedToken:
    """Who the session acts as: its token's user and project."""
    from stratus.identity.v1 import identity_service_pb2 as pb
    from stratus.identity.v1 import identity_service_pb2_grpc as rpc

    token = session.token()
    if session.current is not None:
        return session.current
    stub = session.stub(rpc.IdentityServiceStub)
    info = session.call(stub.ValidateToken, pb.ValidateTokenRequest(token=token)).info
    return CachedToken(token, info.expire_time.ToNanoseconds() / 1e9, info.user_id, info.project_id)
