"""Password hashing: scrypt with a random salt, a slow hash by design.

hashlib.scrypt releases the GIL, so hashing in worker threads uses every core. The parameters
are stored with each hash, so they can be raised later without breaking old passwords.
"""

import base64
import functools
import hashlib
import hmac
import os

N, R, P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MAX_PASSWORD_BYTES = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=_MAXMEM)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so both paths cost the same time."""
    return hash_password(_b64(os.urandom(12)))
