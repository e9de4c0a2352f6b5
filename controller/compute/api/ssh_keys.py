"""SSH key pairs: generate, import, fingerprint. The private key is returned once, never kept."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from stratus_common.errors import InvalidArgument

_NAME = re.compile(r"^[A-Za-z0-9 _.@-]{1,255}$")
MAX_PUBLIC_KEY = 16 * 1024


@dataclass(frozen=True)
class KeyMaterial:
    public_key: str
    fingerprint: str
    private_key: str = ""


def check_name(name: str) -> str:
    if not _NAME.match(name or "") or not name.strip():
        raise InvalidArgument(
            "key_pair.name", "1-255 letters, digits, spaces, '_', '-', '.' or '@'"
        )
    return name


def fingerprint(public_key: str) -> str:
    """SHA256 of the key blob, as `ssh-keygen -l` prints it."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def generate() -> KeyMaterial:
    key = ed25519.Ed25519PrivateKey.generate()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return KeyMaterial(public, fingerprint(public), private)


def import_public(text: str) -> KeyMaterial:
    """Accepts one OpenSSH public key line (RSA >= 2048 bits, ECDSA or Ed25519)."""
    text = text.strip()
    if len(text) > MAX_PUBLIC_KEY or "\n" in text:
        raise InvalidArgument("key_pair.public_key", "must be one OpenSSH public key line")
    if text.startswith("ssh-dss "):
        raise InvalidArgument("key_pair.public_key", "DSA keys are not accepted")
    try:
        key = serialization.load_ssh_public_key(text.encode())
    except (ValueError, IndexError, TypeError, UnsupportedAlgorithm):
        raise InvalidArgument("key_pair.public_key", "is not an OpenSSH public key") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise InvalidArgument("key_pair.public_key", "RSA keys need at least 2048 bits")
    return KeyMaterial(text, fingerprint(text))
