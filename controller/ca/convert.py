"""Domain records to stratus.ca.v1 messages."""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.ca.authority import fingerprint_sha256
from controller.ca.records import (
    CertificateKind,
    CertificateRecord,
    CertificateStatus,
    EnrollmentToken,
)
from controller.rpc.convert import timestamp
from stratus.ca.v1 import ca_service_pb2 as pb

KINDS = {
    CertificateKind.CLIENT: pb.CERTIFICATE_KIND_CLIENT,
    CertificateKind.SERVER: pb.CERTIFICATE_KIND_SERVER,
}
STATUSES = {
    CertificateStatus.ACTIVE: pb.CERTIFICATE_STATUS_ACTIVE,
    CertificateStatus.EXPIRED: pb.CERTIFICATE_STATUS_EXPIRED,
    CertificateStatus.REVOKED: pb.CERTIFICATE_STATUS_REVOKED,
}
STATUS_FILTERS = {value: key for key, value in STATUSES.items()}


def ca_certificate(certificate: x509.Certificate) -> pb.CACertificate:
    return pb.CACertificate(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        fingerprint_sha256=fingerprint_sha256(certificate),
        subject=certificate.subject.rfc4514_string(),
        not_before_time=timestamp(certificate.not_valid_before_utc),
        not_after_time=timestamp(certificate.not_valid_after_utc),
    )


def certificate(record: CertificateRecord, now: datetime.datetime) -> pb.Certificate:
    return pb.Certificate(
        serial_number=record.serial,
        kind=KINDS[record.kind],
        host_name=record.host_name,
        subject=record.subject,
        fingerprint_sha256=record.fingerprint_sha256,
        not_before_time=timestamp(record.not_before),
        not_after_time=timestamp(record.not_after),
        status=STATUSES[record.status(now)],
        create_time=timestamp(record.created_at),
        revoke_time=timestamp(record.revoked_at),
        revocation_reason=record.revocation_reason or "",
        renewed_from=record.renewed_from or "",
        certificate_pem=record.certificate_pem.decode(),
    )


def enrollment_token(
    token: EnrollmentToken, secret: str, ca_fingerprint: str
) -> pb.EnrollmentToken:
    return pb.EnrollmentToken(
        id=token.id,
        host_name=token.host_name,
        token=secret,
        create_time=timestamp(token.created_at),
        expire_time=timestamp(token.expires_at),
        ca_fingerprint_sha256=ca_fingerprint,
    )


def crl(revocation_list: x509.CertificateRevocationList) -> pb.CertificateRevocationList:
    return pb.CertificateRevocationList(
        crl_pem=revocation_list.public_bytes(serialization.Encoding.PEM).decode(),
        crl_der=revocation_list.public_bytes(serialization.Encoding.DER),
        this_update_time=timestamp(revocation_list.last_update_utc),
        next_update_time=timestamp(revocation_list.next_update_utc),
    )
