"""compute_node.pki.enroll / renew against the real controller."""

import asyncio

import grpc
import pytest

from compute_node import pki as node_pki
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc
from tests.support.cloud import unique


def _token(cloud, host):
    stub = pb_grpc.CertificateAuthorityServiceStub(cloud.channel)
    return stub.CreateEnrollmentToken(
        pb.CreateEnrollmentTokenRequest(host_name=host), metadata=cloud.admin
    )


def test_enroll_with_a_pinned_ca_then_renew_over_mtls(controller, cloud, tmp_path):
    host = unique("node")
    token = _token(cloud, host)
    pki = node_pki.NodePKI(host, tmp_path / "pki")

    async def scenario():
        async with grpc.aio.insecure_channel(controller.address) as public:
            first = await node_pki.enroll(
                pki, public, token.token, ca_fingerprint=token.ca_fingerprint_sha256.lower()
            )
        node_address = f"127.0.0.1:{controller.app.node_listener.port}"
        async with grpc.aio.secure_channel(node_address, pki.channel_credentials()) as channel:
            second = await node_pki.renew(pki, channel)
        return first, second

    first, second = asyncio.run(scenario())
    assert second.serial_number != first.serial_number
    assert pki.certificate() == second
    record = controller.app.db.call(controller.app.ca.get, format(second.serial_number, "x"))
    assert record.renewed_from == format(first.serial_number, "x")


def test_enroll_refuses_an_unexpected_ca(controller, cloud, tmp_path):
    host = unique("node")
    token = _token(cloud, host)
    pki = node_pki.NodePKI(host, tmp_path / "pki")

    async def scenario():
        async with grpc.aio.insecure_channel(controller.address) as public:
            await node_pki.enroll(pki, public, token.token, ca_fingerprint="AA:BB")

    with pytest.raises(node_pki.PKIError, match="fingerprint"):
        asyncio.run(scenario())
    assert not pki.is_enrolled()


def test_renew_if_due_renews_only_when_due_and_logs_refusals(controller, cloud, tmp_path, caplog):
    host = unique("node")
    token = _token(cloud, host)
    pki = node_pki.NodePKI(host, tmp_path / "pki")
    node_address = f"127.0.0.1:{controller.app.node_listener.port}"

    def factory():
        return grpc.aio.secure_channel(node_address, pki.channel_credentials())

    async def scenario():
        async with grpc.aio.insecure_channel(controller.address) as public:
            await node_pki.enroll(pki, public, token.token)
        first = pki.certificate()
        assert await node_pki.renew_if_due(pki, factory) is False  # fresh: nothing to do
        # The node's clock says two thirds of the life are gone.
        pki.clock = lambda: (
            first.not_valid_before_utc
            + (first.not_valid_after_utc - first.not_valid_before_utc) * 0.7
        )
        assert await node_pki.renew_if_due(pki, factory) is True
        renewed = pki.certificate()
        assert renewed.serial_number != first.serial_number
        stub = pb_grpc.CertificateAuthorityServiceStub(cloud.channel)
        stub.RevokeCertificate(
            pb.RevokeCertificateRequest(serial_number=format(renewed.serial_number, "x")),
            metadata=cloud.admin,
        )
        pki.clock = lambda: (
            renewed.not_valid_before_utc
            + (renewed.not_valid_after_utc - renewed.not_valid_before_utc) * 0.7
        )
        assert await node_pki.renew_if_due(pki, factory) is False
        return renewed

    renewed = asyncio.run(scenario())
    assert pki.certificate() == renewed  # a refusal changes nothing on disk
    assert "renewal refused" in caplog.text and "UNAUTHENTICATED" in caplog.text
