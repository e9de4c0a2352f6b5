"""The root certificate authority: its files, and every certificate and CRL it signs.

Plain cryptography, no I/O besides the CA directory, no clock of its own (callers pass
`now`), so tests can sign for any moment. The private key lives in `<directory>/ca.key`
(0600) and never leaves this object: nothing here logs, returns or serves it.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import pathlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stratus_common import keys
from stratus_common.errors import AlreadyExists, FailedPrecondition

LOG = logging.getLogger(__name__)

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.crt"
CA_VALIDITY = datetime.timedelta(days=3650)
CLIENT_VALIDITY = datetime.timedelta(days=30)
SERVER_VALIDITY = datetime.timedelta(days=365)
CRL_VALIDITY = datetime.timedelta(days=1)
# Certificates start a little in the past so a peer whose clock lags still accepts them.
CLOCK_SKEW = datetime.timedelta(minutes=5)


def new_serial() -> int:
    """A random, positive 128-bit serial (RFC 5280 allows up to 20 octets)."""
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


def serial_hex(serial: int) -> str:
    """The one text form of a serial used in storage, logs and the API."""
    return format(serial, "x")


def fingerprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _hash_for(key) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime.datetime


class CertificateAuthority:
    """A loaded root CA: its certificate and the key that signs with it."""

    def __init__(self, key: keys.PrivateKey, certificate: x509.Certificate):
        if keys.public_key_der(key.public_key()) != keys.public_key_der(certificate.public_key()):
            raise FailedPrecondition(
                "the CA key does not match the CA certificate", reason="CA_KEY_MISMATCH"
            )
        self._key = key
        self.certificate = certificate

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"<CertificateAuthority {self.certificate.subject.rfc4514_string()}>"

    # -- files ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: pathlib.Path,
        *,
        now: datetime.datetime,
        common_name: str = "Stratus CA",
        algorithm: keys.KeyAlgorithm = keys.KeyAlgorithm.EC_P256,
        validity: datetime.timedelta = CA_VALIDITY,
        force: bool = False,
    ) -> CertificateAuthority:
        """Create a self-signed root CA in `directory`; refuse to replace one unless `force`."""
        directory = keys.ensure_private_directory(directory)
        key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
        if not force and (key_path.exists() or cert_path.exists()):
            raise AlreadyExists(
                f"a CA already exists in {directory}; pass force to replace it",
                reason="CA_EXISTS",
                directory=directory,
            )
        key = keys.generate_private_key(algorithm)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stratus"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(new_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + validity)
            # path_length=0: this CA signs leaf certificates only, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
            .sign(key, _hash_for(key))
        )
        keys.write_private_key(key_path, key)
        keys.write_atomically(
            cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644
        )
        LOG.info(
            "created CA %s (%s) in %s", common_name, fingerprint_sha256(certificate), directory
        )
        return cls(key, certificate)

    @classmethod
    def load(cls, directory: pathlib.Path) -> CertificateAuthority:
        directory = pathlib.Path(directory)
        key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
        if not key_path.exists() or not cert_path.exists():
            raise FailedPrecondition(
                f"no CA in {directory}; run `stratus-manage ca init`",
                reason="CA_MISSING",
                directory=directory,
            )
        if key_path.stat().st_mode & 0o077:
            raise FailedPrecondition(
                f"{key_path} is readable by others; chmod 0600 it",
                reason="CA_KEY_EXPOSED",
                path=key_path,
            )
        return cls(
            keys.load_private_key(key_path), x509.load_pem_x509_certificate(cert_path.read_bytes())
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    # -- signing ----------------------------------------------------------------------

    def _leaf(
        self,
        public_key,
        subject: x509.Name,
        *,
        now: datetime.datetime,
        validity: datetime.timedelta,
        serial: int | None = None,
    ) -> x509.CertificateBuilder:
        # A leaf never outlives the CA that vouches for it.
        not_after = min(now + validity, self.certificate.not_valid_after_utc)
        rsa_key = isinstance(public_key, rsa.RSAPublicKey)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial or new_serial())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=rsa_key,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )

    def sign_client_certificate(
        self,
        public_key,
        host_name: str,
        *,
        now: datetime.datetime,
        validity: datetime.timedelta = CLIENT_VALIDITY,
    ) -> x509.Certificate:
        """A node's client certificate: CN and the only DNS SAN are `host_name`.

        `host_name` and `public_key` must already be checked (see csr.validate_csr).
        """
        keys.check_public_key(public_key)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
        return (
            self._leaf(public_key, subject, now=now, validity=validity)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, _hash_for(self._key))
        )

    def issue_server_certificate(
        self,
        *,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        now: datetime.datetime,
        validity: datetime.timedelta = SERVER_VALIDITY,
        algorithm: keys.KeyAlgorithm = keys.KeyAlgorithm.EC_P256,
    ) -> tuple[keys.PrivateKey, x509.Certificate]:
        """A new key and a serverAuth certificate for one of the controller's listeners."""
        ips = [ipaddress.ip_address(ip) for ip in ip_addresses]
        if not dns_names and not ips:
            raise FailedPrecondition(
                "a server certificate needs at least one DNS name or IP",
                reason="NO_SUBJECT_ALT_NAMES",
            )
        key = keys.generate_private_key(algorithm)
        common_name = dns_names[0] if dns_names else str(ips[0])
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        sans = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ip) for ip in ips]
        certificate = (
            self._leaf(key.public_key(), subject, now=now, validity=validity)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, _hash_for(self._key))
        )
        return key, certificate

    def build_crl(
        self,
        revoked: Iterable[RevokedEntry],
        *,
        now: datetime.datetime,
        validity: datetime.timedelta = CRL_VALIDITY,
    ) -> x509.CertificateRevocationList:
        """A CRL of `revoked`, valid for `validity`.

        The CRL number is the signing time in milliseconds: it grows with every CRL, on every
        controller replica, without a shared counter.
        """
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + validity)
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        for entry in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(entry.revoked_at)
                .build()
            )
        return builder.sign(self._key, _hash_for(self._key))

    def issued(self, certificate: x509.Certificate) -> bool:
        """True if this CA's key signed `certificate`."""
        try:
            certificate.verify_directly_issued_by(self.certificate)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True
