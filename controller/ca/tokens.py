"""One-time enrollment tokens: the secret, its stored hash, and the checks at enrollment.

The secret is 256 random bits (url-safe base64, 43 characters), shown once to the admin who
creates it. Only its SHA-256 is stored. A fast hash is right here, unlike for passwords:
slow salted hashes exist to make guessing low-entropy secrets expensive, and nobody can
guess 256 random bits, fast hash or not. An unsalted hash also lets the database find the
token by an indexed equality lookup, so there is no separate token id to send, and a leaked
table yields nothing usable (and every token expires within hours anyway).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from controller.ca.records import EnrollmentToken
from stratus_common.errors import PermissionDenied, Unauthenticated

SECRET_BYTES = 32
DEFAULT_TTL = datetime.timedelta(hours=1)
MAX_TTL = datetime.timedelta(days=7)
# An upper bound on what a client may send, so a huge string is not even hashed.
MAX_SECRET_LENGTH = 128


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_usable(token: EnrollmentToken | None, now: datetime.datetime) -> EnrollmentToken:
    """Return `token` if it exists, is unused and unexpired; else raise UNAUTHENTICATED.

    The reasons differ (INVALID, USED, EXPIRED) so the operator knows what to fix; telling
    them apart gives an attacker nothing, since no one can guess a live secret.
    """
    if token is None:
        raise Unauthenticated(
            "the enrollment token is not valid; ask an admin for a new one",
            reason="ENROLLMENT_TOKEN_INVALID",
        )
    if token.used_at is not None:
        raise Unauthenticated(
            "the enrollment token was already used; ask for a new one",
            reason="ENROLLMENT_TOKEN_USED",
            token_id=token.id,
        )
    if now >= token.expires_at:
        raise Unauthenticated(
            "the enrollment token has expired; ask for a new one",
            reason="ENROLLMENT_TOKEN_EXPIRED",
            token_id=token.id,
        )
    return token


def check_host(token: EnrollmentToken, host_name: str) -> None:
    """A real token for another host is PERMISSION_DENIED: genuine, but not for this host."""
    if token.host_name != host_name:
        raise PermissionDenied(
            "the enrollment token was issued for another host name",
            reason="ENROLLMENT_TOKEN_HOST_MISMATCH",
            token_id=token.id,
            host_name=host_name,
        )
