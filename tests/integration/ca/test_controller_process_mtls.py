"""The real `stratus-controller` process: the node listener, enrollment and revocation."""

import os
import pathlib
import re
import subprocess
import sys
import time

import grpc
import pytest

from compute_node.pki import NodePKI
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc
from tests.support.cloud import Cloud
from tests.support.controller import ADMIN_PASSWORD, ControllerProcess, write_config
from tests.support.errors import raises

ROOT = pathlib.Path(__file__).resolve().parents[3]


def manage(config, *argv):
    # A child process: this test process may hold the session controller's database.
    subprocess.run(
        [sys.executable, "-m", "controller.manage", "--config", str(config), *argv],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def node_listener_port(log: pathlib.Path) -> int:
    for _ in range(500):
        match = re.search(r"node listener serving.* port=(\d+)", log.read_text())
        if match:
            return int(match.group(1))
        time.sleep(0.02)
    raise AssertionError(f"no node listener in the log: {log.read_text()}")


@pytest.fixture(scope="module")
def process(tmp_path_factory):
    state = tmp_path_factory.mktemp("ca-process")
    config = write_config(state, f"sqlite:///{state}/stratus.db")
    manage(config, "db", "sync")
    manage(config, "token", "setup-keys")
    manage(config, "ca", "init")
    manage(config, "bootstrap", "--admin-password", ADMIN_PASSWORD)
    controller = ControllerProcess(config, state / "controller.log").start()
    controller.node_port = node_listener_port(state / "controller.log")
    yield controller
    controller.terminate()


def test_enroll_connect_and_revoke_on_a_real_controller(process, tmp_path):
    cloud = Cloud(process.address)
    try:
        ca = pb_grpc.CertificateAuthorityServiceStub(cloud.channel)
        token = ca.CreateEnrollmentToken(
            pb.CreateEnrollmentTokenRequest(host_name="node-a"), metadata=cloud.admin
        )
        pki = NodePKI("node-a", tmp_path / "pki")
        reply = ca.EnrollNode(
            pb.EnrollNodeRequest(token=token.token, csr_pem=pki.new_csr().decode())
        )
        pki.install(reply.certificate.certificate_pem.encode(), reply.ca_certificate_pem.encode())
        address = f"localhost:{process.node_port}"
        with grpc.secure_channel(address, pki.channel_credentials()) as channel:
            node = pb_grpc.NodeCertificateServiceStub(channel)
            renewed = node.RenewCertificate(
                pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode()), timeout=10
            )
            pki.install(renewed.certificate.certificate_pem.encode())
            ca.RevokeCertificate(
                pb.RevokeCertificateRequest(serial_number=renewed.certificate.serial_number),
                metadata=cloud.admin,
            )
        with (
            grpc.secure_channel(address, pki.channel_credentials()) as channel,
            raises(grpc.StatusCode.UNAUTHENTICATED),
        ):
            pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(
                pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode()), timeout=10
            )
        with grpc.insecure_channel(address) as channel, raises(grpc.StatusCode.UNAVAILABLE):
            pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(
                pb.RenewCertificateRequest(csr_pem="x"), timeout=10
            )
    finally:
        cloud.close()
