"""The compute node's own key, certificate and CA, and when to renew.

The private key is made here and never leaves the host: the controller only ever sees a
CSR. Files, under /var/lib/stratus/pki/ by default:

    node.key          the current private key (0600)
    node.crt          the current client certificate
    ca.crt            the controller's CA, pinned at enrollment
    node.key.pending  the key of a CSR waiting for its certificate (0600)
    node.crt.new      a certificate being installed (only during `install`)

`install` switches key and certificate by two renames; if the host stops in between, the
next `NodePKI(...)` finishes the switch, so key and certificate always match on disk.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import logging
import os
import pathlib
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stratus_common import keys, lifetime

LOG = logging.getLogger(__name__)

DEFAULT_DIRECTORY = pathlib.Path("/var/lib/stratus/pki")
KEY_FILE, CERT_FILE, CA_FILE = "node.key", "node.crt", "ca.crt"
PENDING_KEY_FILE, NEW_CERT_FILE = "node.key.pending", "node.crt.new"
# Below this share of its life left, a certificate still not renewed is worth a warning.
WARN_REMAINING_FRACTION = 1 / 6


class CertificateState(enum.Enum):
    MISSING = "missing"  # not enrolled yet
    VALID = "valid"
    RENEWAL_DUE = "renewal_due"  # past two thirds of its life
    EXPIRING = "expiring"  # renewal keeps failing and the end is near
    EXPIRED = "expired"


@dataclass(frozen=True)
class NodeCredentials:
    key_pem: bytes
    certificate_pem: bytes
    ca_pem: bytes


class PKIError(Exception):
    """The node's PKI files are missing, inconsistent, or a certificate does not fit."""


def _public_der(key) -> bytes:
    return keys.public_key_der(key)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class NodePKI:
    def __init__(
        self,
        host_name: str,
        directory: pathlib.Path = DEFAULT_DIRECTORY,
        *,
        clock=_utcnow,
        algorithm: keys.KeyAlgorithm = keys.KeyAlgorithm.EC_P256,
    ):
        self.host_name = host_name.lower()
        self.directory = keys.ensure_private_directory(directory)
        self.clock = clock
        self.algorithm = algorithm
        self._recover()

    def _path(self, name: str) -> pathlib.Path:
        return self.directory / name

    # -- state ------------------------------------------------------------------------

    def is_enrolled(self) -> bool:
        return all(self._path(n).exists() for n in (KEY_FILE, CERT_FILE, CA_FILE))

    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self._path(CERT_FILE).read_bytes())
        except FileNotFoundError:
            raise PKIError(f"no certificate in {self.directory}; enroll this node first") from None

    def credentials(self) -> NodeCredentials:
        if not self.is_enrolled():
            raise PKIError(f"no key, certificate and CA in {self.directory}; enroll first")
        return NodeCredentials(
            key_pem=self._path(KEY_FILE).read_bytes(),
            certificate_pem=self._path(CERT_FILE).read_bytes(),
            ca_pem=self._path(CA_FILE).read_bytes(),
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Mutual-TLS credentials for the node listener, read afresh from disk.

        Build a new channel with these after a renewal; calls already open on the old
        channel keep its certificate until they end.
        """
        creds = self.credentials()
        return grpc.ssl_channel_credentials(
            root_certificates=creds.ca_pem,
            private_key=creds.key_pem,
            certificate_chain=creds.certificate_pem,
        )

    def state(self) -> CertificateState:
        if not self._path(CERT_FILE).exists():
            return CertificateState.MISSING
        certificate, now = self.certificate(), self.clock()
        if now >= certificate.not_valid_after_utc:
            return CertificateState.EXPIRED
        life = certificate.not_valid_after_utc - certificate.not_valid_before_utc
        if lifetime.remaining(certificate, now) <= life * WARN_REMAINING_FRACTION:
            return CertificateState.EXPIRING
        if lifetime.renewal_due(certificate, now):
            return CertificateState.RENEWAL_DUE
        return CertificateState.VALID

    def renewal_due(self) -> bool:
        return self.state() in (CertificateState.RENEWAL_DUE, CertificateState.EXPIRING)

    def log_state(self) -> CertificateState:
        """Log the certificate's state, louder as its end nears; return the state."""
        state = self.state()
        if state is CertificateState.MISSING:
            LOG.error(
                "no node certificate in %s: enroll with `stratus-compute --enroll-token TOKEN`",
                self.directory,
            )
            return state
        certificate = self.certificate()
        not_after = certificate.not_valid_after_utc.isoformat()
        serial = format(certificate.serial_number, "x")
        if state is CertificateState.EXPIRED:
            LOG.error(
                "node certificate %s expired at %s: the controller will refuse this "
                "node; enroll it again with a new token",
                serial,
                not_after,
            )
        elif state is CertificateState.EXPIRING:
            LOG.warning(
                "node certificate %s expires at %s and is not renewed yet; check the "
                "connection to the controller",
                serial,
                not_after,
            )
        elif state is CertificateState.RENEWAL_DUE:
            LOG.info("node certificate %s is due for renewal (expires %s)", serial, not_after)
        return state

    # -- requests and installation -----------------------------------------------------

    def new_csr(self) -> bytes:
        """A fresh key (kept as pending, 0600) and the PEM CSR for it.

        The certificate in use, if any, keeps working until `install` replaces it.
        """
        key = keys.generate_private_key(self.algorithm)
        keys.write_private_key(self._path(PENDING_KEY_FILE), key)
        digest = (
            hashes.SHA384()
            if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384
            else hashes.SHA256()
        )
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.host_name)]))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(self.host_name)]), critical=False
            )
            .sign(key, digest)
        )
        return csr.public_bytes(serialization.Encoding.PEM)

    def install(self, certificate_pem: bytes, ca_pem: bytes | None = None) -> x509.Certificate:
        """Make `certificate_pem` (issued for the pending key) the node's identity.

        `ca_pem` is pinned at enrollment; later, the certificate must chain to the pinned CA.
        """
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise PKIError("the controller sent something that is not a certificate") from None
        pending = self._path(PENDING_KEY_FILE)
        if not pending.exists():
            raise PKIError("no pending key: call new_csr() before install()")
        key = keys.load_private_key(pending)
        if _public_der(key.public_key()) != _public_der(certificate.public_key()):
            raise PKIError("the certificate is not for the pending key")
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if [str(n.value).lower() for n in names] != [self.host_name]:
            raise PKIError(f"the certificate is not for host {self.host_name}")
        if ca_pem is None:
            ca_pem = self._path(CA_FILE).read_bytes()
        ca_certificate = x509.load_pem_x509_certificate(ca_pem)
        try:
            certificate.verify_directly_issued_by(ca_certificate)
        except (ValueError, TypeError, InvalidSignature):
            raise PKIError("the certificate is not signed by the controller's CA") from None
        keys.write_atomically(self._path(CA_FILE), ca_pem, 0o644)
        keys.write_atomically(self._path(NEW_CERT_FILE), certificate_pem, 0o644)
        os.replace(pending, self._path(KEY_FILE))
        os.replace(self._path(NEW_CERT_FILE), self._path(CERT_FILE))
        keys.fsync_directory(self.directory)
        LOG.info(
            "installed node certificate %s for %s, valid until %s",
            format(certificate.serial_number, "x"),
            self.host_name,
            certificate.not_valid_after_utc.isoformat(),
        )
        return certificate

    def _recover(self) -> None:
        """Finish an `install` that a crash interrupted between its two renames."""
        new_cert = self._path(NEW_CERT_FILE)
        if not new_cert.exists():
            return
        try:
            public = _public_der(x509.load_pem_x509_certificate(new_cert.read_bytes()).public_key())
        except ValueError:
            new_cert.unlink()
            return
        for key_file in (KEY_FILE, PENDING_KEY_FILE):
            path = self._path(key_file)
            if path.exists() and _public_der(keys.load_private_key(path).public_key()) == public:
                if key_file == PENDING_KEY_FILE:
                    os.replace(path, self._path(KEY_FILE))
                os.replace(new_cert, self._path(CERT_FILE))
                LOG.info("finished installing a node certificate interrupted by a stop")
                return
        new_cert.unlink()


# -- talking to the controller's CA ---------------------------------------------------------


def _fingerprint(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex(":").upper()


async def enroll(
    pki: NodePKI, public_channel: grpc.aio.Channel, token: str, *, ca_fingerprint: str | None = None
) -> x509.Certificate:
    """First start: send a CSR with the one-time token over the public listener.

    `ca_fingerprint` (as `stratus-manage node enroll-token` prints it) pins the CA the
    controller answers with; without it the CA is trusted on first use, which is only as safe
    as the channel to the public listener.
    """
    from stratus.ca.v1 import ca_service_pb2 as pb
    from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc

    stub = pb_grpc.CertificateAuthorityServiceStub(public_channel)
    reply = await stub.EnrollNode(pb.EnrollNodeRequest(token=token, csr_pem=pki.new_csr().decode()))
    ca_pem = reply.ca_certificate_pem.encode()
    if ca_fingerprint is None:
        LOG.warning(
            "enrolled without a CA fingerprint to check: trusting CA %s on first use",
            _fingerprint(ca_pem),
        )
    elif _fingerprint(ca_pem) != ca_fingerprint.strip().upper():
        raise PKIError("the controller's CA does not match the expected fingerprint; not enrolling")
    return pki.install(reply.certificate.certificate_pem.encode(), ca_pem)


async def renew(pki: NodePKI, node_channel: grpc.aio.Channel) -> x509.Certificate:
    """Renew over the node listener with the current identity and a new key.

    The current certificate keeps working until it expires; build a new channel with
    `pki.channel_credentials()` to use the new one, and let open calls finish on the old.
    """
    from stratus.ca.v1 import ca_service_pb2 as pb
    from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc

    stub = pb_grpc.NodeCertificateServiceStub(node_channel)
    reply = await stub.RenewCertificate(pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode()))
    return pki.install(reply.certificate.certificate_pem.encode())


async def renew_if_due(pki: NodePKI, node_channel_factory) -> bool:
    """Log the certificate's state and renew it when due; True if it was renewed.

    `node_channel_factory()` returns a new grpc.aio channel to the node listener made with
    the current credentials (used as an async context manager). A refusal is logged, never
    raised: the next check tries again while the current certificate still works.
    """
    if pki.log_state() not in (
        CertificateState.RENEWAL_DUE,
        CertificateState.EXPIRING,
        CertificateState.EXPIRED,
    ):
        return False
    try:
        async with node_channel_factory() as channel:
            await renew(pki, channel)
    except grpc.RpcError as error:
        LOG.error(
            "certificate renewal refused by the controller: %s %s",
            error.code().name,
            error.details(),
        )
        return False
    except PKIError as error:
        LOG.error("certificate renewal failed: %s", error)
        return False
    return True


async def keep_renewed(
    pki: NodePKI, node_channel_factory, *, check_every: float = 3600.0, on_renewed=None
) -> None:
    """Check every `check_every` seconds; after a renewal, await `on_renewed()` (e.g. to
    open the next stream with the new certificate)."""
    while True:
        if await renew_if_due(pki, node_channel_factory) and on_renewed is not None:
            await on_renewed()
        await asyncio.sleep(check_every)
