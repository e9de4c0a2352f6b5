"""The controller's own listener certificates, kept in the CA directory and renewed on start.

A listener's key and certificate live beside the CA as `<name>.key` (0600) and `<name>.crt`.
They are reissued when missing, signed by another CA, past two thirds of their life, or when
the configured names changed, so editing the configuration and restarting is all it takes.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.ca.authority import SERVER_VALIDITY, CertificateAuthority, serial_hex
from stratus_common import keys, lifetime

LOG = logging.getLogger(__name__)

NODE_LISTENER = "node-listener"
PUBLIC_LISTENER = "public-listener"


@dataclass(frozen=True)
class ServerKeyPair:
    key_pem: bytes
    certificate_pem: bytes
    certificate: x509.Certificate


def _names(
    certificate: x509.Certificate,
) -> tuple[set[str], set[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(sans.get_values_for_type(x509.DNSName)), set(
        sans.get_values_for_type(x509.IPAddress)
    )


def _still_good(
    authority: CertificateAuthority,
    pair: ServerKeyPair,
    dns_names: set[str],
    ips: set,
    now: datetime.datetime,
) -> bool:
    certificate = pair.certificate
    key = serialization.load_pem_private_key(pair.key_pem, password=None)
    return (
        authority.issued(certificate)
        and keys.public_key_der(key.public_key()) == keys.public_key_der(certificate.public_key())
        and _names(certificate) == (dns_names, ips)
        and not lifetime.renewal_due(certificate, now)
    )


def load_server_key_pair(directory: pathlib.Path, name: str) -> ServerKeyPair | None:
    key_path = pathlib.Path(directory) / f"{name}.key"
    cert_path = pathlib.Path(directory) / f"{name}.crt"
    if not key_path.exists() or not cert_path.exists():
        return None
    certificate_pem = cert_path.read_bytes()
    return ServerKeyPair(
        key_path.read_bytes(), certificate_pem, x509.load_pem_x509_certificate(certificate_pem)
    )


def ensure_server_certificate(
    authority: CertificateAuthority,
    directory: pathlib.Path,
    name: str,
    *,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    now: datetime.datetime,
    validity: datetime.timedelta = SERVER_VALIDITY,
) -> tuple[ServerKeyPair, bool]:
    """The listener `name`'s key pair, and whether it was just (re)issued."""
    directory = keys.ensure_private_directory(directory)
    wanted_dns = {d.lower() for d in dns_names}
    wanted_ips = {ipaddress.ip_address(ip) for ip in ip_addresses}
    existing = load_server_key_pair(directory, name)
    if existing is not None:
        try:
            if _still_good(authority, existing, wanted_dns, wanted_ips, now):
                return existing, False
        except ValueError:
            LOG.warning("%s certificate in %s is unreadable; issuing a new one", name, directory)
    key, certificate = authority.issue_server_certificate(
        dns_names=sorted(wanted_dns),
        ip_addresses=sorted(map(str, wanted_ips)),
        now=now,
        validity=validity,
    )
    pair = ServerKeyPair(
        keys.private_key_pem(key), certificate.public_bytes(serialization.Encoding.PEM), certificate
    )
    # The key first: a crash in between leaves a mismatch that the next start repairs.
    keys.write_atomically(directory / f"{name}.key", pair.key_pem, 0o600)
    keys.write_atomically(directory / f"{name}.crt", pair.certificate_pem, 0o644)
    LOG.info(
        "issued %s certificate %s for %s until %s",
        name,
        serial_hex(certificate.serial_number),
        ", ".join([*sorted(wanted_dns), *sorted(map(str, wanted_ips))]),
        certificate.not_valid_after_utc.isoformat(),
    )
    return pair, True


class ListenerCertificate:
    """A listener's current key pair, cached for the TLS fetcher and refreshed when due.

    `pair()` is what `mtls.rotating_server_credentials` calls at each handshake: it only
    reads the cache. `refresh()` does the file and signing work, from a periodic task.
    """

    def __init__(
        self,
        authority: CertificateAuthority,
        directory: pathlib.Path,
        name: str,
        *,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        clock,
        validity: datetime.timedelta = SERVER_VALIDITY,
    ):
        self._args = dict(
            dns_names=tuple(dns_names), ip_addresses=tuple(ip_addresses), validity=validity
        )
        self._authority, self._directory, self._name, self._clock = (
            authority,
            pathlib.Path(directory),
            name,
            clock,
        )
        self._current: ServerKeyPair | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Reissue the certificate if it is due; True if it changed."""
        pair, _ = ensure_server_certificate(
            self._authority, self._directory, self._name, now=self._clock(), **self._args
        )
        changed = self._current is None or pair.certificate_pem != self._current.certificate_pem
        self._current = pair  # one reference swap: readers on other threads see old or new
        return changed

    @property
    def certificate(self) -> x509.Certificate:
        return self._current.certificate

    def pair(self) -> tuple[bytes, bytes]:
        current = self._current
        return current.key_pem, current.certificate_pem
