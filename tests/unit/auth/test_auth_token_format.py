import base64
import os
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from controller.auth.fernet_keys import KeyRepository
from controller.auth.token_format import TokenFormatter, TokenPayload
from stratus_common.errors import Unauthenticated

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
USER = "3f1c2a5e-8b7d-4c1e-9a0f-6d2b4e8c1a7f"
PROJECT = "b4e0d6a2-1c3f-4e5a-8d7b-9f0e2c4a6b81"


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def repo(tmp_path):
    r = KeyRepository(tmp_path / "keys")
    r.initialize()
    return r


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def fmt(repo, clock):
    return TokenFormatter(repo, clock=clock)


def issue(fmt, project=PROJECT, methods=("password",), life=timedelta(hours=24)):
    return fmt.issue(USER, project, methods, NOW + life)


def assert_refused(fmt, token, reason="TOKEN_INVALID", now=None):
    with pytest.raises(Unauthenticated) as info:
        fmt.parse(token, now=now)
    assert info.value.reason == reason
    assert str(info.value) == "The token is invalid or has expired"


def test_round_trip_scoped(fmt):
    token, payload = issue(fmt)
    assert payload == TokenPayload(
        USER, PROJECT, ("password",), NOW, NOW + timedelta(hours=24), payload.audit_id
    )
    assert fmt.parse(token) == payload
    assert len(token) < 200


def test_round_trip_unscoped_and_several_methods(fmt):
    token, payload = issue(fmt, project=None, methods=["token", "password"])
    parsed = fmt.parse(token)
    assert parsed == payload
    assert parsed.project_id is None
    assert parsed.methods == ("password", "token")
    assert len(token) < 170


def test_issued_at_keeps_microseconds(fmt, clock):
    clock.now = NOW.replace(microsecond=999999)
    token, _ = fmt.issue(USER, None, ["password"], NOW + timedelta(hours=1))
    assert fmt.parse(token).issued_at == NOW.replace(microsecond=999999)


def test_ids_come_back_canonical(fmt):
    raw = uuid.uuid4()
    token, payload = fmt.issue(raw.hex.upper(), None, ["password"], NOW + timedelta(hours=1))
    assert fmt.parse(token).user_id == str(raw) == payload.user_id


def test_audit_ids_are_fresh_and_url_safe(fmt):
    ids = {issue(fmt)[1].audit_id for _ in range(20)}
    assert len(ids) == 20
    for audit_id in ids:
        assert len(audit_id) == 22
        assert len(base64.urlsafe_b64decode(audit_id + "==")) == 16


def test_token_is_unpadded_url_safe_text(fmt):
    token, _ = issue(fmt)
    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_expired(fmt, clock):
    token, payload = issue(fmt, life=timedelta(seconds=10))
    assert fmt.parse(token, now=payload.expires_at - timedelta(microseconds=1)) == payload
    assert_refused(fmt, token, "TOKEN_EXPIRED", now=payload.expires_at)
    clock.now = NOW + timedelta(seconds=11)
    assert_refused(fmt, token, "TOKEN_EXPIRED")


@pytest.mark.parametrize("position", [0, 10, 40, 100, -1, -5])
def test_tampered_byte(fmt, position):
    token, _ = issue(fmt)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert_refused(fmt, tampered)


def test_tampered_character(fmt):
    token, _ = issue(fmt)
    i = len(token) // 2
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    assert_refused(fmt, tampered)


def test_wrong_key(fmt, tmp_path, clock):
    other = KeyRepository(tmp_path / "other")
    other.initialize()
    token, _ = TokenFormatter(other, clock=clock).issue(
        USER, PROJECT, ["password"], NOW + timedelta(hours=1)
    )
    assert_refused(fmt, token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "not a token",
        "é" * 40,
        "A" * 300,
        None,
        42,
        b"bytes",
        "gAAAAA",
        "gAAAAABp" + "A" * 150,
        "=" * 100,
    ],
)
def test_malformed(fmt, token):
    assert_refused(fmt, token)


def test_padded_or_decorated_forms_are_refused(fmt):
    token, _ = issue(fmt)
    assert_refused(fmt, token + "=")
    assert_refused(fmt, " " + token)
    assert_refused(fmt, token[:50] + "\n" + token[50:])


def encrypt_raw(repo, raw):
    return repo.current().encrypt(raw).rstrip(b"=").decode()


def payload_bytes(version=1, flags=1, methods=1, project=True, extra=b""):
    now = int((NOW - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    raw = struct.pack(
        ">BBH16sqq16s",
        version,
        flags,
        methods,
        uuid.UUID(USER).bytes,
        now,
        now + 3_600_000_000,
        b"\x5a" * 16,
    )
    if project:
        raw += uuid.UUID(PROJECT).bytes
    return raw + extra


def test_the_crafted_reference_payload_parses(fmt, repo):
    # Proves the helper builds a real payload, so the refusals below are about one field.
    assert fmt.parse(encrypt_raw(repo, payload_bytes())).project_id == PROJECT


@pytest.mark.parametrize(
    "raw",
    [
        payload_bytes(version=2),
        payload_bytes(version=0),
        payload_bytes(flags=3),
        payload_bytes(methods=0),
        payload_bytes(methods=0x8000),
        payload_bytes(project=False),  # flagged scoped, no project
        payload_bytes(flags=0),  # unscoped, project bytes left over
        payload_bytes(extra=b"\x00"),
        payload_bytes()[:-1],
        b"",
        b"\x01",
    ],
    ids=[
        "version-2",
        "version-0",
        "unknown-flag",
        "no-method",
        "unknown-method",
        "scoped-without-project",
        "unscoped-with-project",
        "trailing-byte",
        "truncated",
        "empty",
        "version-only",
    ],
)
def test_authentic_but_malformed_payload(fmt, repo, raw):
    assert_refused(fmt, encrypt_raw(repo, raw))


def test_staged_key_validates(fmt, repo):
    # Another controller that rotated first issues with what is our staged key.
    with open(os.path.join(repo.path, "0"), "rb") as f:
        staged = Fernet(f.read())
    token = staged.encrypt(payload_bytes()).rstrip(b"=").decode()
    assert fmt.parse(token).user_id == USER


def test_tokens_survive_rotation_until_their_key_is_purged(fmt, repo):
    token, payload = issue(fmt)  # signed by key 1
    KeyRepository(repo.path).rotate()  # 1 becomes a secondary
    assert fmt.parse(token) == payload
    new_token, _ = issue(fmt)
    KeyRepository(repo.path).rotate()  # 1 is purged
    assert_refused(fmt, token)
    assert fmt.parse(new_token).user_id == USER


def test_new_tokens_use_the_new_primary(fmt, repo):
    KeyRepository(repo.path).rotate()
    token, _ = issue(fmt)
    with open(os.path.join(repo.path, "2"), "rb") as f:
        primary = Fernet(f.read())
    primary.decrypt(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"user_id": "alice"}, "user_id"),
        ({"project_id": "p-1"}, "project_id"),
        ({"methods": []}, "at least one"),
        ({"methods": ["kerberos"]}, "kerberos"),
        ({"expires_at": NOW}, "future"),
        ({"expires_at": NOW.replace(tzinfo=None) + timedelta(hours=1)}, "timezone"),
    ],
)
def test_issue_refuses_bad_arguments(fmt, kwargs, words):
    args = {
        "user_id": USER,
        "project_id": PROJECT,
        "methods": ["password"],
        "expires_at": NOW + timedelta(hours=1),
        **kwargs,
    }
    with pytest.raises(ValueError, match=words):
        fmt.issue(**args)


def test_expiry_in_another_timezone(fmt):
    plus_two = timezone(timedelta(hours=2))
    token, _payload = fmt.issue(
        USER, None, ["password"], (NOW + timedelta(hours=1)).astimezone(plus_two)
    )
    assert fmt.parse(token).expires_at == NOW + timedelta(hours=1)
