"""What the CA stores: enrollment tokens and issued certificates, as plain values."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass


class CertificateKind(enum.Enum):
    CLIENT = "client"  # a compute node's identity on the node listener
    SERVER = "server"  # one of the controller's own listeners


class CertificateStatus(enum.Enum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class EnrollmentToken:
    """A one-time enrollment token. Only the secret's sha256 is kept, never the secret."""

    id: str
    token_hash: str
    host_name: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    used_at: datetime.datetime | None = None
    created_by: str | None = None


@dataclass(frozen=True)
class CertificateRecord:
    serial: str  # lower-case hex, see authority.serial_hex
    kind: CertificateKind
    host_name: str
    subject: str  # RFC 4514
    fingerprint_sha256: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    certificate_pem: bytes
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None = None
    revocation_reason: str | None = None
    renewed_from: str | None = None  # the serial this one replaced, if a renewal

    def status(self, now: datetime.datetime) -> CertificateStatus:
        if self.revoked_at is not None:
            return CertificateStatus.REVOKED
        if now >= self.not_after:
            return CertificateStatus.EXPIRED
        return CertificateStatus.ACTIVE


@dataclass(frozen=True)
class CertificateQuery:
    """A page of certificates, oldest first; `after` is the last (created_at, serial) seen."""

    host_name: str | None = None
    status: CertificateStatus | None = None
    now: datetime.datetime | None = None  # needed to tell ACTIVE from EXPIRED
    after: tuple[datetime.datetime, str] | None = None
    limit: int = 100
