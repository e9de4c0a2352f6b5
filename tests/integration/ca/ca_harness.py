"""Harness: a real node listener on loopback, a CA in tmp_path, and node identities made by NodePKI.

The listener serves grpc.health.v1 (a real streaming service) and a tiny raw-bytes test
service: `WhoAmI` answers with the caller's verified identity and `Renew` renews the
caller's certificate over its mutual-TLS identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import pathlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from compute_node.pki import NodePKI
from controller import node_listener
from controller.ca import mtls
from controller.ca.authority import CertificateAuthority
from controller.ca.certificates import CertificateService, utcnow
from controller.ca.repository import MemoryCARepository
from controller.ca.server_cert import NODE_LISTENER, ListenerCertificate

TEST_SERVICE = "stratus.test.v1.Identity"


class Clock:
    """A clock the test moves; starts at real time so grpc's own date checks agree."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self) -> datetime.datetime:
        return self.now


def _test_handlers(service: CertificateService) -> grpc.GenericRpcHandler:
    async def who_am_i(request: bytes, context) -> bytes:
        peer = node_listener.current_peer()
        return json.dumps({"host_name": peer.host_name, "serial": peer.serial}).encode()

    async def renew(csr_pem: bytes, context) -> bytes:
        peer = node_listener.current_peer()
        record = await asyncio.to_thread(service.renew, peer.host_name, peer.serial, csr_pem)
        return record.certificate_pem

    async def echo(requests, context):
        # A bidirectional stream written as an async generator, as a node stream may be.
        async for message in requests:
            yield node_listener.current_peer().host_name.encode() + b":" + message

    return grpc.method_handlers_generic_handler(
        TEST_SERVICE,
        {
            "WhoAmI": grpc.unary_unary_rpc_method_handler(who_am_i),
            "Renew": grpc.unary_unary_rpc_method_handler(renew),
            "Echo": grpc.stream_stream_rpc_method_handler(echo),
        },
    )


class Cluster:
    """The controller side (CA, service, listener) plus helpers to make node identities."""

    def __init__(self, root: pathlib.Path, clock: Clock):
        self.root = root
        self.clock = clock
        self.authority = CertificateAuthority.create(root / "ca", now=clock())
        self.repository = MemoryCARepository()
        self.service = CertificateService(self.authority, self.repository, clock=clock)
        self.listener_certificate = ListenerCertificate(
            self.authority,
            root / "ca",
            NODE_LISTENER,
            dns_names=["localhost"],
            ip_addresses=["127.0.0.1"],
            clock=clock,
        )
        self.health = health_aio.HealthServicer()
        self.listener: node_listener.NodeListener | None = None
        self.address: str | None = None
        self.channels: list[grpc.aio.Channel] = []

    async def start(self) -> None:
        credentials = mtls.rotating_server_credentials(
            self.listener_certificate.pair, self.authority.certificate_pem
        )
        # The sweep runs only when a test asks for it: no timing in tests.
        self.listener = node_listener.NodeListener(
            self.service, credentials, address="127.0.0.1:0", sweep_interval=0
        )
        self.listener.add_registrar(
            lambda server: health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        )
        self.listener.add_registrar(
            lambda server: server.add_generic_rpc_handlers((_test_handlers(self.service),))
        )
        port = await self.listener.start()
        self.address = f"localhost:{port}"

    async def stop(self) -> None:
        for channel in self.channels:
            await channel.close()
        await self.listener.stop(None)

    def enroll(self, host_name: str) -> NodePKI:
        """A node that enrolled the normal way: local key, CSR, one-time token."""
        pki = NodePKI(host_name, self.root / "nodes" / host_name, clock=self.clock)
        _, secret = self.service.create_enrollment_token(host_name)
        record = self.service.enroll(secret, pki.new_csr())
        pki.install(record.certificate_pem, self.authority.certificate_pem)
        return pki

    def channel(self, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
        if credentials is None:
            channel = grpc.aio.insecure_channel(self.address)
        else:
            channel = grpc.aio.secure_channel(self.address, credentials)
        self.channels.append(channel)
        return channel


async def who_am_i(channel: grpc.aio.Channel) -> dict:
    reply = await channel.unary_unary(f"/{TEST_SERVICE}/WhoAmI")(b"", timeout=10)
    return json.loads(reply)


async def renew(channel: grpc.aio.Channel, csr_pem: bytes) -> bytes:
    return await channel.unary_unary(f"/{TEST_SERVICE}/Renew")(csr_pem, timeout=10)


def echo_stream(channel: grpc.aio.Channel):
    return channel.stream_stream(f"/{TEST_SERVICE}/Echo")()


def health_stub(channel: grpc.aio.Channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)


@contextlib.asynccontextmanager
async def running_cluster(root: pathlib.Path):
    cluster = Cluster(root, Clock())
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


__all__ = [
    "Clock",
    "Cluster",
    "echo_stream",
    "health_pb2",
    "health_stub",
    "renew",
    "running_cluster",
    "who_am_i",
]
