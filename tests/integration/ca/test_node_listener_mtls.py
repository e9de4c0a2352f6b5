"""Mutual TLS on the node listener, with real handshakes on loopback."""

import asyncio
import datetime

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from controller.ca.authority import CertificateAuthority
from controller.ca.certificates import record_for
from controller.ca.records import CertificateKind
from stratus_common import keys
from tests.integration.ca.ca_harness import echo_stream, health_pb2, health_stub, who_am_i


def run(coroutine):
    return asyncio.run(coroutine)


async def _expect_refused(channel, code):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await who_am_i(channel)
    assert caught.value.code() == code, caught.value.details()
    return caught.value


def test_two_enrolled_nodes_each_connect_as_themselves(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            one, two = cluster.enroll("node-1"), cluster.enroll("node-2")
            seen_one = await who_am_i(cluster.channel(one.channel_credentials()))
            seen_two = await who_am_i(cluster.channel(two.channel_credentials()))
            assert seen_one == {
                "host_name": "node-1",
                "serial": format(one.certificate().serial_number, "x"),
            }
            assert seen_two["host_name"] == "node-2"

    run(scenario())


def test_plain_text_connection_is_refused(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            await _expect_refused(cluster.channel(None), grpc.StatusCode.UNAVAILABLE)

    run(scenario())


def test_tls_without_client_certificate_is_refused(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            credentials = grpc.ssl_channel_credentials(cluster.authority.certificate_pem)
            await _expect_refused(cluster.channel(credentials), grpc.StatusCode.UNAVAILABLE)

    run(scenario())


def test_certificate_from_another_ca_is_refused(cluster_at, tmp_path):
    async def scenario():
        async with cluster_at() as cluster:
            other_ca = CertificateAuthority.create(tmp_path / "other-ca", now=cluster.clock())
            key = keys.generate_private_key()
            forged = other_ca.sign_client_certificate(
                key.public_key(), "node-1", now=cluster.clock()
            )
            credentials = grpc.ssl_channel_credentials(
                cluster.authority.certificate_pem,
                keys.private_key_pem(key),
                forged.public_bytes(serialization.Encoding.PEM),
            )
            await _expect_refused(cluster.channel(credentials), grpc.StatusCode.UNAVAILABLE)

    run(scenario())


def test_expired_certificate_is_refused_by_the_handshake(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            key = keys.generate_private_key()
            long_ago = cluster.clock() - datetime.timedelta(days=90)
            expired = cluster.authority.sign_client_certificate(
                key.public_key(), "node-1", now=long_ago
            )
            cluster.repository.add_certificate(
                record_for(expired, CertificateKind.CLIENT, "node-1", long_ago)
            )
            credentials = grpc.ssl_channel_credentials(
                cluster.authority.certificate_pem,
                keys.private_key_pem(key),
                expired.public_bytes(serialization.Encoding.PEM),
            )
            await _expect_refused(cluster.channel(credentials), grpc.StatusCode.UNAVAILABLE)

    run(scenario())


def test_certificate_unknown_to_the_ca_records_is_refused(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            # Signed by the right key but never recorded (e.g. a restored old database).
            key = keys.generate_private_key()
            stray = cluster.authority.sign_client_certificate(
                key.public_key(), "node-1", now=cluster.clock()
            )
            credentials = grpc.ssl_channel_credentials(
                cluster.authority.certificate_pem,
                keys.private_key_pem(key),
                stray.public_bytes(serialization.Encoding.PEM),
            )
            error = await _expect_refused(
                cluster.channel(credentials), grpc.StatusCode.UNAUTHENTICATED
            )
            assert "not known" in error.details()

    run(scenario())


def test_server_certificate_used_as_client_certificate_is_refused(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            key_pem, cert_pem = cluster.listener_certificate.pair()
            credentials = grpc.ssl_channel_credentials(
                cluster.authority.certificate_pem, key_pem, cert_pem
            )
            # Its extended key usage is serverAuth only: the handshake refuses it.
            await _expect_refused(cluster.channel(credentials), grpc.StatusCode.UNAVAILABLE)

    run(scenario())


def test_revoked_certificate_is_refused_at_connect(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            cluster.service.revoke(format(node.certificate().serial_number, "x"), "test")
            error = await _expect_refused(
                cluster.channel(node.channel_credentials()), grpc.StatusCode.UNAUTHENTICATED
            )
            assert "revoked" in error.details()

    run(scenario())


async def _watch(channel):
    """An open health Watch stream and its first message."""
    call = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    first = await call.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    return call


async def _next_status(call):
    message = await asyncio.wait_for(call.read(), timeout=10)
    assert message is not grpc.aio.EOF
    return message.status


def test_revocation_cuts_an_open_stream_at_once_and_spares_other_nodes(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            bad, good = cluster.enroll("node-bad"), cluster.enroll("node-good")
            bad_stream = await _watch(cluster.channel(bad.channel_credentials()))
            good_stream = await _watch(cluster.channel(good.channel_credentials()))
            cut = asyncio.Queue()
            cluster.listener.add_revocation_callback(lambda peer: cut.put_nowait(peer.host_name))

            cluster.service.revoke(format(bad.certificate().serial_number, "x"), "stolen")

            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(bad_stream.read(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            # The callbacks run once the call is cut, which the client may see first.
            assert await asyncio.wait_for(cut.get(), timeout=10) == "node-bad"
            assert cut.empty()
            await cluster.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            assert await _next_status(good_stream) == health_pb2.HealthCheckResponse.NOT_SERVING

    run(scenario())


def test_revocation_by_another_replica_is_found_by_the_sweep(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            stream = await _watch(cluster.channel(node.channel_credentials()))
            serial = format(node.certificate().serial_number, "x")
            # Another replica writes the revocation to the shared store; no local callback.
            cluster.repository.revoke_certificate(serial, cluster.clock(), "elsewhere")
            assert await cluster.listener.sweep_once() == 1
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(stream.read(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    run(scenario())


def test_revocation_cuts_a_bidirectional_stream_mid_conversation(cluster_at):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")
            stream = echo_stream(cluster.channel(node.channel_credentials()))
            await stream.write(b"hello")
            assert await asyncio.wait_for(stream.read(), timeout=10) == b"node-1:hello"
            # From a worker thread, as the controller's database calls run.
            await asyncio.to_thread(
                cluster.service.revoke, format(node.certificate().serial_number, "x"), "test"
            )
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await asyncio.wait_for(stream.read(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            for _ in range(500):  # the handler's task ends just after the status is sent
                if not cluster.listener.open_serials():
                    break
                await asyncio.sleep(0.01)
            assert cluster.listener.open_serials() == set()

    run(scenario())


def test_a_failing_certificate_check_refuses_with_unavailable(cluster_at, monkeypatch):
    async def scenario():
        async with cluster_at() as cluster:
            node = cluster.enroll("node-1")

            def broken(serial):
                raise OSError("database unreachable")

            monkeypatch.setattr(cluster.repository, "get_certificate", broken)
            error = await _expect_refused(
                cluster.channel(node.channel_credentials()), grpc.StatusCode.UNAVAILABLE
            )
            assert "retry" in error.details()

    run(scenario())
