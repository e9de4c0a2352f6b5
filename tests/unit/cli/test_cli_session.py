"""Sessions against a real server: metadata, token reuse, and a refused token dropped."""

import time

import grpc
import pytest

from cli.config import Settings
from cli.errors import ConfigError
from cli.session import Session
from cli.token_cache import CachedToken, TokenCache


class Identity:
    """Stands for the identity service: counts the tokens it issues."""

    def __init__(self):
        self.issued = 0

    def __call__(self, session):
        self.issued += 1
        return CachedToken(f"fresh-{self.issued}", time.time() + 3600, "u1", "p1")


def _guarded(valid_prefix="fresh-"):
    async def handler(request, context):
        metadata = dict(context.invocation_metadata())
        if not metadata.get("authorization", "").startswith(f"Bearer {valid_prefix}"):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token refused")
        return f"{metadata['authorization']}|{metadata['x-request-id']}".encode()

    return handler


async def _stream(request, context):
    metadata = dict(context.invocation_metadata())
    if not metadata.get("authorization", "").startswith("Bearer fresh-"):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "token refused")
    for n in range(3):
        yield str(n).encode()


@pytest.fixture
def target(tiny_server):
    return tiny_server(
        {
            "Guarded": (grpc.unary_unary_rpc_method_handler, _guarded()),
            "Stream": (grpc.unary_stream_rpc_method_handler, _stream),
        }
    )


def session(tmp_path, target, identity, **settings):
    settings = Settings(url=target, username="alice", password="pw", **settings)
    cache = TokenCache(
        tmp_path, cloud="lab", url=target, username="alice", project="", password="pw"
    )
    return Session(settings, cache=cache, issue_token=identity, request_id="req-42")


def test_metadata_carries_the_token_and_the_request_id(tmp_path, target):
    s = session(tmp_path, target, Identity())
    assert s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"") == b"Bearer fresh-1|req-42"


def test_a_cached_token_is_reused_by_the_next_command(tmp_path, target):
    identity = Identity()
    for _ in range(2):
        s = session(tmp_path, target, identity)
        s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"")
        s.close()
    assert identity.issued == 1


def test_a_refused_cached_token_is_dropped_and_replaced_once(tmp_path, target):
    identity = Identity()
    s = session(tmp_path, target, identity)
    s.cache.store(CachedToken("revoked", time.time() + 3600))
    assert s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"").startswith(b"Bearer fresh-1")
    assert identity.issued == 1
    assert s.cache.load().token == "fresh-1"


def test_a_refused_fresh_token_is_an_error_and_leaves_no_cache(tmp_path, tiny_server):
    target = tiny_server(
        {"Guarded": (grpc.unary_unary_rpc_method_handler, _guarded(valid_prefix="never"))}
    )
    identity = Identity()
    s = session(tmp_path, target, identity)
    with pytest.raises(grpc.RpcError) as caught:
        s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"")
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert identity.issued == 1
    assert s.cache.load() is None


def test_an_explicit_token_is_neither_cached_nor_replaced(tmp_path, target):
    identity = Identity()
    s = Session(Settings(url=target, token="given"), issue_token=identity)
    with pytest.raises(grpc.RpcError):
        s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"")
    assert identity.issued == 0


def test_streams_retry_a_refused_cached_token_before_the_first_message(tmp_path, target):
    identity = Identity()
    s = session(tmp_path, target, identity)
    s.cache.store(CachedToken("revoked", time.time() + 3600))
    assert list(s.stream(s.channel.unary_stream("/test.v1.Tiny/Stream"), b"")) == [b"0", b"1", b"2"]
    assert identity.issued == 1


def test_missing_credentials_say_what_to_set(tmp_path, target):
    s = Session(Settings(url=target), cache=None, issue_token=Identity())
    with pytest.raises(ConfigError, match="set STRATUS_USERNAME and STRATUS_PASSWORD"):
        s.call(s.channel.unary_unary("/test.v1.Tiny/Guarded"), b"")


def test_an_unreadable_ca_file_is_a_configuration_error(tmp_path):
    s = Session(Settings(url="h:1", cacert=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigError, match="cannot read CA certificate"):
        _ = s.channel
