"""Private keys: generation, the strength policy, and safe files.

A private key is written once, 0600, through a temporary file renamed into place, so a
reader never sees a half-written key and a crash never leaves a world-readable one. Keys
are never logged; errors name the file, never its content.
"""

from __future__ import annotations

import enum
import os
import pathlib
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# The curves and sizes this CA accepts, whoever made the key.
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048
# Larger RSA keys buy nothing here and make every handshake slow; refuse them too.
MAX_RSA_BITS = 8192


class KeyAlgorithm(enum.Enum):
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_3072 = "rsa-3072"


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class WeakKeyError(ValueError):
    """The key's type or size is outside the policy."""


def generate_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256) -> PrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def check_public_key(key) -> None:
    """Raise WeakKeyError unless `key` is RSA 2048..8192 (e=65537) or EC on P-256/P-384."""
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise WeakKeyError(
                f"RSA keys must be {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {key.key_size}"
            )
        if key.public_numbers().e != 65537:
            raise WeakKeyError("RSA keys must use the public exponent 65537")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise WeakKeyError(f"EC keys must be on P-256 or P-384, not {key.curve.name}")
        return
    raise WeakKeyError(f"unsupported key type {type(key).__name__}; use EC P-256 or RSA")


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: pathlib.Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        # Never echo the content: the message names the file only.
        raise ValueError(f"{path} does not hold a PEM private key") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{path} holds an unsupported key type")
    return key


def write_atomically(path: pathlib.Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode` from the first byte, then rename into place.

    The temporary file is created with O_EXCL and the final mode, so no other user can open
    it in between, and the rename makes the new content appear whole or not at all.
    """
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have changed it; make it exact
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_key(path: pathlib.Path, key: PrivateKey) -> None:
    write_atomically(path, private_key_pem(key), 0o600)


def ensure_private_directory(directory: pathlib.Path) -> pathlib.Path:
    """Create `directory` 0700 if missing; refuse one that others can write to."""
    directory = pathlib.Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o022:
        raise PermissionError(f"{directory} is writable by others; make it 0700")
    return directory
