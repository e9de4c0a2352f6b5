"""`stratus-manage ca ...` and `stratus-manage node enroll-token`, through the real commands."""

import os
import pathlib
import stat
import subprocess
import sys

from cryptography import x509

from compute_node.pki import NodePKI
from controller import manage
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc
from tests.support.cloud import unique
from tests.support.controller import write_config

ROOT = pathlib.Path(__file__).resolve().parents[3]


def run_manage(config, *argv) -> subprocess.CompletedProcess:
    """A separate process: a command that opens the database must not touch this one's."""
    return subprocess.run(
        [sys.executable, "-m", "controller.manage", "--config", str(config), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_ca_init_creates_refuses_to_overwrite_and_forces(tmp_path, capsys):
    config = write_config(tmp_path / "state")
    assert (
        manage.main(
            [
                "--config",
                str(config),
                "ca",
                "init",
                "--algorithm",
                "rsa-3072",
                "--common-name",
                "Test CA",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    key = tmp_path / "state" / "ca" / "ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE" not in out and "fingerprint" in out
    first = key.read_bytes()

    assert manage.main(["--config", str(config), "ca", "init"]) == 1
    assert "--force" in capsys.readouterr().err
    assert key.read_bytes() == first

    assert manage.main(["--config", str(config), "ca", "init", "--force"]) == 0
    assert key.read_bytes() != first
    assert manage.main(["--config", str(config), "ca", "show", "--pem"]) == 0
    shown = capsys.readouterr().out
    assert "BEGIN CERTIFICATE" in shown and "PRIVATE" not in shown


def test_public_listener_certificate(tmp_path, capsys):
    config = write_config(tmp_path / "state")
    assert manage.main(["--config", str(config), "ca", "public-cert", "--dns-name", "x"]) == 1
    assert "ca init" in capsys.readouterr().err  # no CA yet: says what to run
    assert manage.main(["--config", str(config), "ca", "init"]) == 0
    assert (
        manage.main(
            [
                "--config",
                str(config),
                "ca",
                "public-cert",
                "--dns-name",
                "api.example",
                "--ip-address",
                "192.0.2.10",
            ]
        )
        == 0
    )
    assert "tls_cert_file" in capsys.readouterr().out
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "state" / "ca" / "public-listener.crt").read_bytes()
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.example"]


def test_node_enroll_token_command_gives_a_working_token(controller_config, cloud, tmp_path):
    host = unique("node")
    result = run_manage(controller_config, "node", "enroll-token", host, "--ttl", "30m")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.splitlines()[1].strip()
    ca = pb_grpc.CertificateAuthorityServiceStub(cloud.channel)
    pki = NodePKI(host, tmp_path / "pki")
    reply = ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=pki.new_csr().decode()))
    assert reply.certificate.host_name == host


def test_node_enroll_token_refuses_bad_input(controller_config):
    for argv in (
        ["node", "enroll-token", "not a host"],
        ["node", "enroll-token", "node-1", "--ttl", "soon"],
        ["node", "enroll-token", "node-1", "--ttl", "30d"],
    ):
        result = run_manage(controller_config, *argv)
        assert result.returncode == 1 and result.stderr.startswith("stratus-manage:"), argv
