"""Fernet tokens: a compact binary payload encrypted and signed with the key repository.

Payload, version 1, big-endian:

    B  version (1)
    B  flags (bit 0: project-scoped)
    H  authentication methods, one bit each (METHODS)
    16s user id (UUID bytes)
    q  issued_at, microseconds since the epoch (revocation compares against it)
    q  expires_at, microseconds since the epoch
    16s audit id (random)
    16s project id (UUID bytes), only when project-scoped

A scoped token is 183 characters, an unscoped one 162 (Fernet's base64 "=" padding is
stripped, as Keystone does). Ids come back in canonical UUID form (lowercase, hyphenated).
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import InvalidToken

from stratus_common.errors import Unauthenticated

__all__ = ["MAX_TOKEN_LENGTH", "METHODS", "TokenFormatter", "TokenPayload"]

VERSION = 1
# The bit of each method is its index: append only, never reorder.
METHODS = ("password", "token", "totp", "application_credential", "external", "mapped", "oauth1")
_METHOD_BIT = {name: 1 << i for i, name in enumerate(METHODS)}
_ALL_METHOD_BITS = (1 << len(METHODS)) - 1
_SCOPED = 0x01

_HEAD = struct.Struct(">BBH16sqq16s")
_PROJECT = struct.Struct(">16s")
MAX_TOKEN_LENGTH = 255
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_id: str


def _invalid() -> Unauthenticated:
    return Unauthenticated("The token is invalid or has expired", reason="TOKEN_INVALID")


def _micros(dt: datetime, name: str) -> int:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return (dt - _EPOCH) // _MICROSECOND


def _uuid_bytes(value: str, name: str) -> bytes:
    try:
        return uuid.UUID(value).bytes
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{name} must be a UUID, not {value!r}") from None


def _method_bits(methods: Iterable[str]) -> int:
    bits = 0
    for method in methods:
        try:
            bits |= _METHOD_BIT[method]
        except KeyError:
            raise ValueError(f"unknown authentication method {method!r}") from None
    if not bits:
        raise ValueError("a token needs at least one authentication method")
    return bits


# Decoding runs on every RPC: the tuples are precomputed, the UUID text built directly.
_METHODS_OF = [
    tuple(name for name, bit in _METHOD_BIT.items() if bits & bit)
    for bits in range(_ALL_METHOD_BITS + 1)
]


def _uuid_text(raw: bytes) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class TokenFormatter:
    """Issues and parses tokens with the keys of a KeyRepository (re-read after rotation)."""

    def __init__(self, key_repository, clock: Callable[[], datetime] | None = None):
        self._keys = key_repository
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def keys(self):
        """The key source: a KeyRepository, or the shared database's key ring."""
        return self._keys

    def issue(
        self, user_id: str, project_id: str | None, methods: Iterable[str], expires_at: datetime
    ) -> tuple[str, TokenPayload]:
        issued = _micros(self._clock(), "the clock's time")
        expires = _micros(expires_at, "expires_at")
        if expires <= issued:
            raise ValueError("expires_at must be in the future")
        bits = _method_bits(methods)
        audit = secrets.token_bytes(16)
        raw = _HEAD.pack(
            VERSION,
            _SCOPED if project_id is not None else 0,
            bits,
            _uuid_bytes(user_id, "user_id"),
            issued,
            expires,
            audit,
        )
        if project_id is not None:
            raw += _PROJECT.pack(_uuid_bytes(project_id, "project_id"))
        token = self._keys.current().encrypt(raw).rstrip(b"=").decode("ascii")
        return token, _decode(raw)

    def parse(self, token: str, now: datetime | None = None) -> TokenPayload:
        """The payload of a valid token. Raises Unauthenticated: TOKEN_INVALID for anything
        not issued by a key in the repository, TOKEN_EXPIRED past its expiry."""
        if (
            not isinstance(token, str)
            or len(token) > MAX_TOKEN_LENGTH
            or not _TOKEN_CHARS.fullmatch(token)
        ):
            raise _invalid()
        data = token.encode("ascii")
        data += b"=" * (-len(data) % 4)
        try:
            raw = self._keys.current().decrypt(data)
        except InvalidToken:
            raise _invalid() from None
        payload = _decode(raw)
        if payload is None:
            raise _invalid()
        if (now or self._clock()) >= payload.expires_at:
            raise Unauthenticated("The token is invalid or has expired", reason="TOKEN_EXPIRED")
        return payload


def _decode(raw: bytes) -> TokenPayload | None:
    """The payload, or None when it is not one this version writes."""
    if len(raw) < _HEAD.size or raw[0] != VERSION:
        return None
    _, flags, bits, user, issued, expires, audit = _HEAD.unpack_from(raw)
    scoped = flags & _SCOPED
    if flags & ~_SCOPED or not bits or bits & ~_ALL_METHOD_BITS:
        return None
    if len(raw) != _HEAD.size + (_PROJECT.size if scoped else 0):
        return None
    project = _uuid_text(raw[_HEAD.size :]) if scoped else None
    try:
        issued_at = _EPOCH + timedelta(microseconds=issued)
        expires_at = _EPOCH + timedelta(microseconds=expires)
    except OverflowError:
        return None
    return TokenPayload(
        user_id=_uuid_text(user),
        project_id=project,
        methods=_METHODS_OF[bits],
        issued_at=issued_at,
        expires_at=expires_at,
        audit_id=base64.urlsafe_b64encode(audit).rstrip(b"=").decode("ascii"),
    )
