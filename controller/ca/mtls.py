"""gRPC credentials for mutual TLS, and the peer identity a handshake proved.

grpc verifies the whole chain during the handshake (issuer, signature, validity dates,
extended key usage); it cannot consult a CRL there. So a client certificate's revocation is
checked per call, on the identity parsed here (see controller/node_listener.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
from cryptography import x509

from controller.ca.authority import fingerprint_sha256, serial_hex

LOG = logging.getLogger(__name__)

KeyPairSource = Callable[[], tuple[bytes, bytes]]


@dataclass(frozen=True)
class PeerIdentity:
    """Who is on the other end of a mutual-TLS call, from its verified certificate."""

    host_name: str
    serial: str  # lower-case hex
    fingerprint_sha256: str


def rotating_server_credentials(
    source: KeyPairSource, client_ca_pem: bytes
) -> grpc.ServerCredentials:
    """Server credentials whose key pair is asked of `source()` at every new handshake.

    `source` returns (key_pem, certificate_pem); when that changes, new connections get the
    new certificate while established connections, and their streams, keep the old one.
    grpc calls the fetcher on its own threads, so `source` must be thread-safe and quick.
    """
    lock = threading.Lock()
    current = source()

    def configuration(pair):
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=client_ca_pem)

    def fetch():
        nonlocal current
        try:
            pair = source()
        except Exception:  # never break handshakes over a reload: keep serving the old pair
            LOG.exception("could not reload the server certificate; keeping the current one")
            return None
        with lock:
            if pair == current:
                return None  # grpc keeps the current configuration
            current = pair
        LOG.info("serving a renewed server certificate to new connections")
        return configuration(pair)

    return grpc.dynamic_ssl_server_credentials(
        configuration(current), fetch, require_client_authentication=True
    )


def channel_credentials(
    ca_pem: bytes, key_pem: bytes | None = None, certificate_pem: bytes | None = None
) -> grpc.ChannelCredentials:
    """Client credentials trusting only `ca_pem`; with a key pair, for mutual TLS."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=key_pem, certificate_chain=certificate_pem
    )


def peer_identity(auth_context: Mapping[str, Sequence[bytes]]) -> PeerIdentity | None:
    """The identity in a grpc `context.auth_context()`, or None without a client certificate.

    The host name is the certificate's DNS SAN (the CA writes the host name there and as
    CN, and nothing else); the serial identifies the certificate for revocation.
    """
    if auth_context.get("transport_security_type") != [b"ssl"]:
        return None
    pems = auth_context.get("x509_pem_cert")
    if not pems:
        return None
    certificate = x509.load_pem_x509_certificate(pems[0])
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = sans.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    if len(dns_names) != 1:
        return None
    return PeerIdentity(
        host_name=dns_names[0].lower(),
        serial=serial_hex(certificate.serial_number),
        fingerprint_sha256=fingerprint_sha256(certificate),
    )
