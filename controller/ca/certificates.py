"""The CA's use cases: enrollment tokens, enrollment, renewal, revocation, listing, CRL.

Plain Python over an authority and a repository, with the clock injected. The servicer
converts protos to these calls; the node listener asks `check_peer` at every connect and
subscribes to revocations with `add_revocation_listener`.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.ca import authority as ca_authority
from controller.ca import csr as ca_csr
from controller.ca import tokens
from controller.ca.hostnames import normalize_host_name
from controller.ca.records import (
    CertificateKind,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EnrollmentToken,
)
from controller.ca.repository import CARepository
from stratus_common import keys
from stratus_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)

LOG = logging.getLogger(__name__)

Clock = Callable[[], datetime.datetime]
RevocationListener = Callable[[Sequence[CertificateRecord]], None]


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def record_for(
    certificate: x509.Certificate,
    kind: CertificateKind,
    host_name: str,
    now: datetime.datetime,
    renewed_from: str | None = None,
) -> CertificateRecord:
    return CertificateRecord(
        serial=ca_authority.serial_hex(certificate.serial_number),
        kind=kind,
        host_name=host_name,
        subject=certificate.subject.rfc4514_string(),
        fingerprint_sha256=ca_authority.fingerprint_sha256(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        created_at=now,
        renewed_from=renewed_from,
    )


class CertificateService:
    def __init__(
        self,
        authority: ca_authority.CertificateAuthority,
        repository: CARepository,
        *,
        clock: Clock = utcnow,
        client_validity: datetime.timedelta = ca_authority.CLIENT_VALIDITY,
        max_token_ttl: datetime.timedelta = tokens.MAX_TTL,
    ):
        self.authority = authority
        self.repository = repository
        self.clock = clock
        self.client_validity = client_validity
        self.max_token_ttl = max_token_ttl
        self._revocation_listeners: list[RevocationListener] = []

    # -- enrollment -------------------------------------------------------------------

    def create_enrollment_token(
        self,
        host_name: str,
        ttl: datetime.timedelta = tokens.DEFAULT_TTL,
        created_by: str | None = None,
    ) -> tuple[EnrollmentToken, str]:
        """A new one-time token for `host_name`; returns the record and the secret.

        The secret is returned once and never stored; losing it means creating another.
        """
        host_name = normalize_host_name(host_name)
        if not datetime.timedelta(0) < ttl <= self.max_token_ttl:
            raise InvalidArgument(
                "ttl",
                f"must be positive and at most {self.max_token_ttl}",
                reason="ENROLLMENT_TOKEN_TTL_OUT_OF_RANGE",
            )
        now = self.clock()
        secret = tokens.new_secret()
        token = EnrollmentToken(
            id=str(uuid.uuid4()),
            token_hash=tokens.hash_secret(secret),
            host_name=host_name,
            created_at=now,
            expires_at=now + ttl,
            created_by=created_by,
        )
        self.repository.add_enrollment_token(token)
        LOG.info(
            "enrollment token %s created for host %s, expires %s",
            token.id,
            host_name,
            token.expires_at.isoformat(),
        )
        return token, secret

    def enroll(self, secret: str, csr_pem: bytes) -> CertificateRecord:
        """Check the token and the CSR, burn the token, sign and store the certificate."""
        if not secret or len(secret) > tokens.MAX_SECRET_LENGTH:
            LOG.warning("enrollment refused: malformed token")
            raise Unauthenticated(
                "the enrollment token is not valid; ask an admin for a new one",
                reason="ENROLLMENT_TOKEN_INVALID",
            )
        now = self.clock()
        with self.repository.atomic():
            # The token first: nothing about the request matters without a live credential.
            token = self.repository.find_enrollment_token(tokens.hash_secret(secret))
            try:
                tokens.check_usable(token, now)
            except Unauthenticated as error:
                LOG.warning("enrollment refused: %s", error.reason)
                raise
            request = self._validated_csr(csr_pem, "enrollment")
            try:
                tokens.check_host(token, request.host_name)
            except PermissionDenied:
                LOG.warning(
                    "enrollment refused: token %s is not for host %s", token.id, request.host_name
                )
                raise
            if not self.repository.mark_enrollment_token_used(token.id, now):
                LOG.warning(
                    "enrollment refused for host %s: token %s used concurrently",
                    request.host_name,
                    token.id,
                )
                raise Unauthenticated(
                    "the enrollment token was already used; ask for a new one",
                    reason="ENROLLMENT_TOKEN_USED",
                    token_id=token.id,
                )
            record = self._issue(request, now)
        LOG.info(
            "host %s enrolled with token %s: certificate %s until %s",
            record.host_name,
            token.id,
            record.serial,
            record.not_after.isoformat(),
        )
        return record

    def renew(self, peer_host_name: str, peer_serial: str, csr_pem: bytes) -> CertificateRecord:
        """A new certificate for an authenticated node, with a new key.

        The caller is the node listener's verified peer; the old certificate stays valid
        until it expires, so the node switches on its next connection without a gap.
        """
        current = self.check_peer(peer_host_name, peer_serial)
        request = self._validated_csr(csr_pem, "renewal")
        if request.host_name != current.host_name:
            LOG.warning(
                "renewal refused: %s asked for a certificate for %s",
                current.host_name,
                request.host_name,
            )
            raise PermissionDenied(
                "a node can renew only its own host name",
                reason="RENEWAL_HOST_MISMATCH",
                host_name=request.host_name,
            )
        old_key = x509.load_pem_x509_certificate(current.certificate_pem).public_key()
        if keys.public_key_der(old_key) == keys.public_key_der(request.public_key):
            raise InvalidArgument(
                "csr_pem", "a renewal must use a new key pair", reason="RENEWAL_KEY_REUSED"
            )
        now = self.clock()
        with self.repository.atomic():
            record = self._issue(request, now, renewed_from=current.serial)
        LOG.info(
            "host %s renewed certificate %s -> %s until %s",
            record.host_name,
            current.serial,
            record.serial,
            record.not_after.isoformat(),
        )
        return record

    def _validated_csr(self, csr_pem: bytes, purpose: str) -> ca_csr.ValidCSR:
        try:
            return ca_csr.validate_csr(csr_pem)
        except InvalidArgument as error:
            LOG.warning("%s refused: %s (%s)", purpose, error.reason, error.message)
            raise

    def _issue(
        self, request: ca_csr.ValidCSR, now: datetime.datetime, renewed_from: str | None = None
    ) -> CertificateRecord:
        certificate = self.authority.sign_client_certificate(
            request.public_key, request.host_name, now=now, validity=self.client_validity
        )
        record = record_for(
            certificate, CertificateKind.CLIENT, request.host_name, now, renewed_from
        )
        self.repository.add_certificate(record)
        return record

    # -- identity at connect ----------------------------------------------------------

    def check_peer(self, host_name: str, serial: str) -> CertificateRecord:
        """The stored record of a verified client certificate, if it may still connect.

        TLS already proved the chain and the validity dates; this refuses what TLS cannot
        know: a revoked certificate, one this CA's records do not hold, or a server one.
        """
        record = self.repository.get_certificate(serial)
        if (
            record is None
            or record.kind is not CertificateKind.CLIENT
            or (record.host_name != host_name)
        ):
            raise Unauthenticated(
                "the client certificate is not known to this CA",
                reason="CERTIFICATE_UNKNOWN",
                serial=serial,
            )
        if record.revoked_at is not None:
            raise Unauthenticated(
                "the client certificate is revoked; enroll the node again",
                reason="CERTIFICATE_REVOKED",
                serial=serial,
            )
        return record

    # -- revocation -------------------------------------------------------------------

    def add_revocation_listener(self, listener: RevocationListener) -> None:
        """Call `listener(records)` after each revocation commits (from the revoking thread)."""
        self._revocation_listeners.append(listener)

    def revoke(self, serial: str, reason: str = "") -> CertificateRecord:
        serial = serial.strip().lower()
        existing = self.repository.get_certificate(serial)
        if existing is None:
            raise NotFound(
                "no certificate with this serial", reason="CERTIFICATE_NOT_FOUND", serial=serial
            )
        if existing.kind is not CertificateKind.CLIENT:
            raise FailedPrecondition(
                "server certificates are replaced, not revoked here",
                reason="CERTIFICATE_NOT_REVOCABLE",
                serial=serial,
            )
        record = self.repository.revoke_certificate(serial, self.clock(), reason)
        LOG.warning(
            "certificate %s of host %s revoked: %s",
            serial,
            record.host_name,
            reason or "no reason given",
        )
        self._notify([record])
        return record

    def revoke_host(self, host_name: str, reason: str = "host deleted") -> list[CertificateRecord]:
        """Revoke every certificate of a host, e.g. when its compute service is deleted."""
        host_name = normalize_host_name(host_name)
        records = self.repository.revoke_host_certificates(host_name, self.clock(), reason)
        if records:
            LOG.warning("revoked %d certificate(s) of host %s: %s", len(records), host_name, reason)
            self._notify(records)
        return records

    def _notify(self, records: Sequence[CertificateRecord]) -> None:
        for listener in self._revocation_listeners:
            try:
                listener(records)
            except Exception:  # one broken listener must not hide the revocation from others
                LOG.exception("revocation listener failed")

    def crl(self) -> x509.CertificateRevocationList:
        now = self.clock()
        revoked = self.repository.list_revoked(expiring_after=now)
        return self.authority.build_crl(
            (ca_authority.RevokedEntry(int(r.serial, 16), r.revoked_at) for r in revoked), now=now
        )

    # -- reading ----------------------------------------------------------------------

    def get(self, serial: str) -> CertificateRecord:
        record = self.repository.get_certificate(serial.strip().lower())
        if record is None:
            raise NotFound(
                "no certificate with this serial", reason="CERTIFICATE_NOT_FOUND", serial=serial
            )
        return record

    def list(
        self,
        *,
        host_name: str | None = None,
        status: CertificateStatus | None = None,
        after: tuple[datetime.datetime, str] | None = None,
        limit: int = 100,
    ) -> list[CertificateRecord]:
        if host_name is not None:
            host_name = normalize_host_name(host_name)
        return self.repository.list_certificates(
            CertificateQuery(
                host_name=host_name, status=status, now=self.clock(), after=after, limit=limit
            )
        )

    def record_server_certificate(
        self, certificate: x509.Certificate, name: str
    ) -> CertificateRecord:
        """Keep a listener's server certificate in the inventory (listed, never revoked).

        Idempotent: every start records the certificate in use, once."""
        existing = self.repository.get_certificate(
            ca_authority.serial_hex(certificate.serial_number)
        )
        if existing is not None:
            return existing
        record = record_for(certificate, CertificateKind.SERVER, name, self.clock())
        self.repository.add_certificate(record)
        return record
