"""Sealing secrets at rest: what goes into the database is encrypted with a key derived from
a file each replica holds (systemd's LoadCredential=), so a database dump or backup alone
reveals neither the token keys nor the CA key."""

from __future__ import annotations

import base64
import os
import stat

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_BYTES = 32
_PURPOSE = b"stratus shared secrets v1"


class SealingError(Exception):
    """The sealing key file is missing or unsafe, or a sealed value does not open with it."""


class Sealer:
    def __init__(self, secret: bytes):
        if len(secret) < MIN_SECRET_BYTES:
            raise SealingError(f"the sealing secret must be at least {MIN_SECRET_BYTES} bytes")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE)
        self._fernet = Fernet(base64.urlsafe_b64encode(hkdf.derive(secret)))

    @classmethod
    def from_file(cls, path: str) -> Sealer:
        if not path:
            raise SealingError(
                "[shared_secrets] store = database needs sealing_key_file (a file of at least "
                f"{MIN_SECRET_BYTES} secret bytes, the same on every replica)"
            )
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SealingError(f"cannot read sealing key file {path}: {exc.strerror}") from None
        try:
            if os.fstat(fd).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SealingError(f"sealing key file {path} is readable by others; chmod 600")
            secret = os.read(fd, 4096).strip()
        finally:
            os.close(fd)
        return cls(secret)

    def seal(self, plaintext: bytes) -> str:
        return self._fernet.encrypt(plaintext).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            return self._fernet.decrypt(sealed.encode("ascii"))
        except InvalidToken:
            raise SealingError(
                "a shared secret in the database does not open with this sealing key: "
                "every replica needs the same sealing_key_file"
            ) from None
