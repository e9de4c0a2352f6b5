"""Wires the certificate authority and the node listener into the controller.

Sets on the app:
- `app.ca`: the CertificateService (sync, database-backed: call it through `app.db.run`);
  `app.ca.revoke_host(host)` revokes every certificate of a compute host being deleted.
- `app.node_listener`: the mutual-TLS NodeListener. Services registered with
  `app.add_node_service(...)` are served on it; their handlers read the caller's verified
  host name with `controller.node_listener.current_peer()` and can subscribe to revocations
  with `app.node_listener.add_revocation_callback(fn)`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from pathlib import Path

from controller.ca import mtls, shared
from controller.ca.authority import CertificateAuthority, fingerprint_sha256
from controller.ca.certificates import CertificateService, utcnow
from controller.ca.config import CASection, NodeKeepaliveSection
from controller.ca.db_repository import DatabaseCARepository
from controller.ca.policies import RULES
from controller.ca.server_cert import NODE_LISTENER, ListenerCertificate
from controller.ca.servicer import CertificateAuthorityServicer, NodeCertificateServicer
from controller.logs import fields
from controller.node_listener import NodeListener
from controller.rpc.pipeline import Pipeline, add_secured_service
from controller.rpc.policy_spec import MethodSpec
from controller.shared_secrets import wiring
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus_common import keepalive, keys
from stratus_common.errors import FailedPrecondition

log = logging.getLogger(__name__)


def ca_directory(config) -> Path:
    settings = config.section(CASection)
    return Path(settings.directory or Path(config.controller.state_dir) / "ca")


def key_algorithm(name: str) -> keys.KeyAlgorithm:
    try:
        return keys.KeyAlgorithm(name)
    except ValueError:
        choices = ", ".join(a.value for a in keys.KeyAlgorithm)
        raise FailedPrecondition(
            f"[ca] key_algorithm {name!r}: choose one of {choices}", reason="CA_BAD_ALGORITHM"
        ) from None


def shared_or_local_authority(config, db) -> CertificateAuthority:
    """The CA every replica shares through the database ([shared_secrets] store =
    database), else the CA of this host's directory."""
    if not wiring.in_database(config):
        return load_authority(config)
    return db.call(
        shared.shared_authority,
        wiring.secret_store(config),
        ca_directory(config),
        lambda: load_authority(config),
    )


def load_authority(config) -> CertificateAuthority:
    """The CA from its directory, created first when missing and [ca] auto_init allows."""
    settings, directory = config.section(CASection), ca_directory(config)
    if not (directory / "ca.key").exists() and settings.auto_init:
        log.warning(
            "no CA in %s: creating one (auto_init); nodes enrolled with another CA "
            "must enroll again",
            directory,
        )
        return CertificateAuthority.create(
            directory, now=utcnow(), algorithm=key_algorithm(settings.key_algorithm)
        )
    return CertificateAuthority.load(directory)


def node_listen_address(config) -> str:
    """[ca] node_listen, or the public listener's host with its port + 1 (0 stays 0)."""
    settings = config.section(CASection)
    if settings.node_listen:
        return settings.node_listen
    host, _, port = config.controller.listen.rpartition(":")
    return f"{host}:{int(port) + 1 if int(port) else 0}"


def listener_names(config) -> tuple[list[str], list[str]]:
    settings = config.section(CASection)
    dns = settings.node_listener_dns_names or sorted({socket.getfqdn().lower(), "localhost"})
    ips = settings.node_listener_ip_addresses or ["127.0.0.1", "::1"]
    return dns, ips


def setup(app):
    settings = app.config.section(CASection)
    authority = shared_or_local_authority(app.config, app.db)
    certificates = CertificateService(
        authority,
        DatabaseCARepository(app.db),
        client_validity=datetime.timedelta(days=settings.client_certificate_days),
        max_token_ttl=datetime.timedelta(seconds=settings.enrollment_token_max_seconds),
    )
    app.ca = certificates
    app.enforcer.register(RULES)
    app.add_public_service(
        CertificateAuthorityServicer(app.db, certificates),
        pb.DESCRIPTOR.services_by_name["CertificateAuthorityService"],
    )

    keep = app.config.section(NodeKeepaliveSection)
    dns_names, ip_addresses = listener_names(app.config)
    server_certificate = ListenerCertificate(
        authority,
        ca_directory(app.config),
        NODE_LISTENER,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        clock=utcnow,
    )
    listener = NodeListener(
        certificates,
        mtls.rotating_server_credentials(server_certificate.pair, authority.certificate_pem),
        address=node_listen_address(app.config),
        sweep_interval=settings.revocation_sweep_seconds,
        run_blocking=app.db.run,
        options=[
            ("grpc.max_send_message_length", app.config.controller.max_message_bytes),
            ("grpc.max_receive_message_length", app.config.controller.max_message_bytes),
            ("grpc.so_reuseport", 0),
            *keepalive.server_options(
                keep.time_seconds, keep.timeout_seconds, keep.min_client_interval_seconds
            ),
        ],
    )
    app.node_listener = listener
    app.add_node_service(
        NodeCertificateServicer(app.db, certificates),
        pb.DESCRIPTOR.services_by_name["NodeCertificateService"],
    )

    def register_node_services(server):
        # Node services need no bearer token (the client certificate names the node): a
        # method without a spec of its own is open.
        pipeline = Pipeline(app.authenticate, app.enforcer)
        for registration in app.node_services:
            add_secured_service(
                server,
                pipeline,
                registration.servicer,
                registration.descriptor,
                default=MethodSpec(None),
            )

    listener.add_registrar(register_node_services)

    async def start(app):
        await app.db.run(
            certificates.record_server_certificate, server_certificate.certificate, NODE_LISTENER
        )
        await listener.start()
        log.info(
            "certificate authority ready",
            extra=fields(
                ca=fingerprint_sha256(authority.certificate), node_services=len(app.node_services)
            ),
        )

    async def stop(app):
        await listener.stop(1.0)

    async def renew_server_certificate():
        while True:
            await asyncio.sleep(settings.server_certificate_check_seconds)
            try:
                if await asyncio.to_thread(server_certificate.refresh):
                    await app.db.run(
                        certificates.record_server_certificate,
                        server_certificate.certificate,
                        NODE_LISTENER,
                    )
                    log.info("node listener certificate renewed")
            except Exception:  # keep serving the current certificate; retry next time
                log.exception("could not renew the node listener certificate")

    app.on_start.append(start)
    app.on_stop.append(stop)
    app.background.append(renew_server_certificate)
