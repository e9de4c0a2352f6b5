"""The controller's text log cannot be forged through a request, and the access log names who
was refused."""

import io
import json
import logging
import re

import grpc
import pytest

from controller import logs
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.support.errors import raises

FORGED = '2020-01-01T00:00:00.000Z level=info logger=stratus.rpc msg="rpc" forged=yes'
LINE_START = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=")


@pytest.fixture
def text_log():
    """The controller's log lines, written by the text formatter while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs._RequestIdFilter())
    handler.setFormatter(logs.TextFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream):
    return stream.getvalue().splitlines()


_PAIR = re.compile(r' ([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]+)')


def _keys(line: str) -> list[str]:
    """The keys of one log line, read as key=value pairs whose quoted values are JSON."""
    keys, pos = [], line.index(" ")
    while pos < len(line):
        pair = _PAIR.match(line, pos)
        assert pair, f"not a key=value pair at {line[pos:]!r}"
        if pair.group(2).startswith('"'):
            json.loads(pair.group(2))
        keys.append(pair.group(1))
        pos = pair.end()
    return keys


def _assert_not_forged(stream):
    text = stream.getvalue()
    assert "\x1b" not in text and "\u2028" not in text
    for line in _lines(stream):
        if line.startswith("    "):  # a traceback's line
            continue
        assert LINE_START.match(line), line
        assert "forged" not in _keys(line), line


@pytest.mark.parametrize(
    "user_name",
    [
        f"nobody\n{FORGED}",
        f"nobody\r\n{FORGED}",
        "nobody\x1b[2J\x1b[31mred",
        f"nobody\u2028{FORGED}",
        'nobody" forged=yes user_id=admin',
    ],
)
def test_a_user_name_cannot_forge_a_log_line(cloud, text_log, user_name):
    with pytest.raises(grpc.RpcError) as info:
        cloud.identity.IssueToken(ipb.IssueTokenRequest(user_name=user_name, password="x"))
    assert info.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED)
    assert any("IssueToken" in line for line in _lines(text_log))
    _assert_not_forged(text_log)


def test_every_value_and_traceback_is_escaped(text_log):
    log = logging.getLogger("stratus.test")
    log.warning(
        "refused",
        extra=logs.fields(user=f"a\n{FORGED}", plain="abc-1.2", spaced="a b", escape="\x1b[31m"),
    )
    try:
        raise ValueError(f"bad\n{FORGED}\x1b[2J")
    except ValueError:
        log.exception("boom")
    _assert_not_forged(text_log)
    first = _lines(text_log)[0]
    assert " plain=abc-1.2 " in first and ' spaced="a b" ' in first
    assert r'user="a\n2020-01-01' in first and r'escape="\u001b[31m"' in first


def test_the_access_log_names_who_was_refused(cloud, text_log):
    member = cloud.tenant("member")
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        cloud.identity.ListUsers(ipb.ListUsersRequest(), metadata=member.metadata)
    with raises(grpc.StatusCode.INVALID_ARGUMENT):
        cloud.identity.GetUser(ipb.GetUserRequest(id="\0"), metadata=member.metadata)
    access = [line for line in _lines(text_log) if 'msg="rpc"' in line]
    refused = [
        line
        for line in access
        if "code=PERMISSION_DENIED" in line or "code=INVALID_ARGUMENT" in line
    ]
    assert len(refused) == 2, access
    for line in refused:
        assert f"user_id={member.user_id}" in line, line
        assert "request_id=req-" in line, line
