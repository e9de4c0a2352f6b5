"""Renewing a node's certificate, and rotating the listener's, without dropping a stream."""

import asyncio
import socket
import ssl

import grpc
import pytest
from cryptography import x509

from compute_node.pki import CERT_FILE, KEY_FILE
from tests.integration.ca.ca_harness import health_pb2, health_stub, renew, who_am_i


async def _open_watch(channel):
    call = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await call.read()).status == health_pb2.HealthCheckResponse.SERVING
    return call


async def _next_status(call):
    message = await asyncio.wait_for(call.read(), timeout=10)
    assert message is not grpc.aio.EOF
    return message.status


def _server_certificate_seen_by(node, port) -> x509.Certificate:
    """One real TLS handshake with the node's files; the certificate the server showed."""
    context = ssl.create_default_context(cafile=str(node.directory / "ca.crt"))
    context.load_cert_chain(node.directory / CERT_FILE, node.directory / KEY_FILE)
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_renewal_over_mtls_rolls_the_certificate_without_dropping_the_stream(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            old_serial = format(node.certificate().serial_number, "x")
            old_channel = cluster.channel(node.channel_credentials())
            stream = await _open_watch(old_channel)

            # Renew over the current identity, with a new key made on the node.
            new_pem = await renew(old_channel, node.new_csr())
            node.install(new_pem)
            new_channel = cluster.channel(node.channel_credentials())
            seen = await who_am_i(new_channel)
            assert seen["host_name"] == "node-1" and seen["serial"] != old_serial
            assert cluster.service.get(seen["serial"]).renewed_from == old_serial

            # The stream opened with the old certificate is still alive and delivering,
            # and the old certificate still connects until it expires.
            await cluster.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            assert await _next_status(stream) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await who_am_i(old_channel))["serial"] == old_serial

    asyncio.run(scenario())


def test_renewal_for_another_host_is_refused(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            other = cluster.enroll("node-2")
            channel = cluster.channel(node.channel_credentials())
            with pytest.raises(grpc.aio.AioRpcError):
                # The test service maps no domain errors, so any failure status will do;
                # the unit tests pin the exact error. What matters: no certificate.
                await renew(channel, other.new_csr())
            assert {r.host_name for r in cluster.service.list()} == {"node-1", "node-2"}
            assert len(cluster.service.list(host_name="node-2")) == 1

    asyncio.run(scenario())


def test_listener_certificate_rotates_for_new_connections_only(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            port = cluster.listener.port
            before = await asyncio.to_thread(_server_certificate_seen_by, node, port)
            assert before == cluster.listener_certificate.certificate
            stream = await _open_watch(cluster.channel(node.channel_credentials()))

            (cluster.root / "ca" / "node-listener.crt").unlink()
            assert cluster.listener_certificate.refresh()

            after = await asyncio.to_thread(_server_certificate_seen_by, node, port)
            assert after.serial_number != before.serial_number
            assert after == cluster.listener_certificate.certificate
            await cluster.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            assert await _next_status(stream) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (await who_am_i(cluster.channel(node.channel_credentials())))[
                "host_name"
            ] == "node-1"

    asyncio.run(scenario())
