"""Checks on a node's certificate signing request before the CA signs anything.

The CA copies nothing from a CSR but its public key and the host name: the certificate's
extensions are always the CA's own. The checks below refuse requests that ask for more than
that, so a confused or hostile node learns at once that it cannot get it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from controller.ca.hostnames import normalize_host_name
from stratus_common import keys
from stratus_common.errors import InvalidArgument

FIELD = "csr_pem"
MAX_CSR_BYTES = 16 * 1024
_GOOD_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


@dataclass(frozen=True)
class ValidCSR:
    host_name: str
    public_key: keys.PublicKey


def _refuse(description: str, reason: str) -> InvalidArgument:
    return InvalidArgument(FIELD, description, reason=reason)


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    if not pem or len(pem) > MAX_CSR_BYTES:
        raise _refuse(f"must be a PEM CSR of at most {MAX_CSR_BYTES} bytes", "CSR_MALFORMED")
    try:
        return x509.load_pem_x509_csr(pem)
    except ValueError:
        raise _refuse("is not a PEM certificate signing request", "CSR_MALFORMED") from None


def validate_csr(pem: bytes) -> ValidCSR:
    """Return the host name and key of a well-formed node CSR, or raise InvalidArgument.

    Refused: a bad signature, a weak or unsupported key, a request for a CA certificate, a
    subject other than exactly `CN=<host>`, and SANs other than exactly `DNS:<host>`.
    """
    csr = load_csr(pem)
    if not csr.is_signature_valid:
        raise _refuse("signature does not verify with its own key", "CSR_BAD_SIGNATURE")
    try:
        public_key = csr.public_key()
        keys.check_public_key(public_key)
    except (keys.WeakKeyError, ValueError) as error:
        raise _refuse(str(error), "CSR_WEAK_KEY") from None
    if not isinstance(csr.signature_hash_algorithm, _GOOD_HASHES):
        raise _refuse("must be signed with SHA-256, SHA-384 or SHA-512", "CSR_WEAK_SIGNATURE")

    attributes = list(csr.subject)
    if len(attributes) != 1 or attributes[0].oid != NameOID.COMMON_NAME:
        raise _refuse("subject must be exactly CN=<host name>", "CSR_BAD_SUBJECT")
    host_name = normalize_host_name(str(attributes[0].value), FIELD)

    try:
        extensions = csr.extensions
    except (ValueError, x509.DuplicateExtension):
        raise _refuse("has malformed or duplicate extensions", "CSR_MALFORMED") from None
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise _refuse("must not request a CA certificate", "CSR_REQUESTS_CA")
    try:
        sans = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise _refuse(
            "must carry the host name as its one DNS subject alternative name", "CSR_BAD_SAN"
        ) from None
    if (
        len(sans) != 1
        or not isinstance(sans[0], x509.DNSName)
        or (sans[0].value.lower().rstrip(".") != host_name)
    ):
        raise _refuse("subject alternative names must be exactly DNS:<host name>", "CSR_BAD_SAN")
    return ValidCSR(host_name=host_name, public_key=public_key)
