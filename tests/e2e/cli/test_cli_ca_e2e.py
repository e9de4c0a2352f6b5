"""The CA commands against a real controller."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.e2e.cli.conftest import Cli


def test_ca_show_needs_no_credentials_and_prints_a_usable_pem(cli, controller_process, tmp_path):
    (tmp_path / "anon").mkdir()
    anonymous = Cli(tmp_path / "anon", {"STRATUS_URL": controller_process.address})
    shown = anonymous.json("ca", "show")
    assert set(shown) == {"fingerprint_sha256", "not_after_time", "not_before_time", "subject"}
    pem = anonymous("ca", "show", "--pem").stdout
    cert = x509.load_pem_x509_certificate(pem.encode())
    fingerprint = ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    assert fingerprint == shown["fingerprint_sha256"]
    assert anonymous("ca", "crl", "show").stdout.startswith("-----BEGIN X509 CRL-----")


def test_certificates_list_and_a_missing_one(cli):
    listed = cli.json("ca", "cert", "list")
    assert isinstance(listed, list)
    proc = cli("ca", "cert", "show", "00ff", expect=5)
    assert proc.stderr.startswith("stratus: NOT_FOUND: ")
    proc = cli("ca", "cert", "list", "--status", "bogus", expect=2)
    assert "invalid choice: 'bogus'" in proc.stderr
