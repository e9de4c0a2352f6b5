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
    return stub.CreateEnrollmentToken(pb.CreateEnrollmentTokenRequest(host_name=host),
                                      metadata=cloud.admin)


def test_enroll_with_a_pinned_ca_then_renew_over_mtls(controller, cloud, tmp_path):
    host = unique("node")
    token = _token(cloud, host)
    pki = node_pki.NodePKI(host, tmp_path / "pki")

    async def scenario():
        async with grpc.aio.insecure_channel(controller.address) as public:
            first = await node_pki.enroll(pki, public, token.token,
                                          ca_fingerprint=token.ca_fingerprint_sha256.lower())
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
