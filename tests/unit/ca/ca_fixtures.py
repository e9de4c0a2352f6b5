"""Shared builders for the CA unit tests: keys, CSRs and a service on a fixed clock."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


class Clock:
    def __init__(self, now: datetime.datetime = T0):
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


def make_csr(
    host_name: str = "node-1",
    *,
    key=None,
    sans=None,
    extra_subject=(),
    ca: bool | None = None,
    digest="default",
) -> bytes:
    """A CSR; by default exactly what a well-behaved node sends."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, host_name), *extra_subject]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    sans = [x509.DNSName(host_name)] if sans is None else sans
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
    return builder.sign(key, hashes.SHA256() if digest == "default" else digest).public_bytes(
        serialization.Encoding.PEM
    )


def tampered(csr_pem: bytes, old: bytes, new: bytes) -> bytes:
    """The same CSR with `old` replaced by `new` in its signed body: the signature breaks."""
    der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    assert len(old) == len(new) and der.count(old) >= 1
    forged = x509.load_der_x509_csr(der.replace(old, new))
    return forged.public_bytes(serialization.Encoding.PEM)


def rsa_key(bits: int):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)
