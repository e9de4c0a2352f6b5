"""compute_node/pki.py: the node's key stays local, files stay consistent, renewal timing."""

import logging
import os
import stat

import pytest

from compute_node.pki import (
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    NEW_CERT_FILE,
    PENDING_KEY_FILE,
    CertificateState,
    NodePKI,
    PKIError,
)
from controller.ca.authority import CertificateAuthority
from controller.ca.csr import validate_csr
from tests.unit.ca.ca_fixtures import T0


@pytest.fixture
def node(tmp_path, clock):
    return NodePKI("Node-1", tmp_path / "pki", clock=clock)


def enroll(node, service, authority):
    _, secret = service.create_enrollment_token("node-1")
    record = service.enroll(secret, node.new_csr())
    node.install(record.certificate_pem, authority.certificate_pem)
    return record


def test_csr_passes_the_ca_checks_and_the_key_stays_0600(node):
    csr = node.new_csr()
    assert validate_csr(csr).host_name == "node-1"
    assert stat.S_IMODE((node.directory / PENDING_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(node.directory.stat().st_mode) == 0o700
    assert b"PRIVATE" not in csr


def test_enrollment_installs_key_certificate_and_ca(node, service, authority):
    assert node.state() is CertificateState.MISSING and not node.is_enrolled()
    record = enroll(node, service, authority)
    assert node.is_enrolled()
    assert format(node.certificate().serial_number, "x") == record.serial
    assert stat.S_IMODE((node.directory / KEY_FILE).stat().st_mode) == 0o600
    assert not (node.directory / PENDING_KEY_FILE).exists()
    assert (node.directory / CA_FILE).read_bytes() == authority.certificate_pem
    creds = node.credentials()
    assert creds.certificate_pem == record.certificate_pem
    assert node.channel_credentials() is not None


def test_install_refuses_a_certificate_for_another_key_host_or_ca(
    node, service, authority, tmp_path
):
    with pytest.raises(PKIError):
        node.install(b"", authority.certificate_pem)  # garbage is refused too
    other_node = NodePKI("node-1", tmp_path / "other", clock=node.clock)
    _, secret = service.create_enrollment_token("node-1")
    foreign = service.enroll(secret, other_node.new_csr())
    node.new_csr()
    with pytest.raises(PKIError, match="pending key"):
        node.install(foreign.certificate_pem, authority.certificate_pem)

    _, secret = service.create_enrollment_token("node-2")
    wrong_host = NodePKI("node-2", tmp_path / "n2", clock=node.clock)
    record = service.enroll(secret, wrong_host.new_csr())
    os.replace(wrong_host.directory / PENDING_KEY_FILE, node.directory / PENDING_KEY_FILE)
    with pytest.raises(PKIError, match="host"):
        node.install(record.certificate_pem, authority.certificate_pem)

    other_ca = CertificateAuthority.create(tmp_path / "other-ca", now=T0)
    csr_key_cert = other_ca.sign_client_certificate(
        validate_csr(node.new_csr()).public_key, "node-1", now=T0
    )
    from cryptography.hazmat.primitives import serialization

    with pytest.raises(PKIError, match="CA"):
        node.install(
            csr_key_cert.public_bytes(serialization.Encoding.PEM), authority.certificate_pem
        )
    assert not node.is_enrolled()


def test_renewal_timing_and_logs(node, service, authority, clock, caplog):
    enroll(node, service, authority)
    assert node.state() is CertificateState.VALID and not node.renewal_due()
    clock.advance(days=20, minutes=5)  # two thirds of 30 days (+ the 5-minute backdating)
    with caplog.at_level(logging.INFO):
        assert node.log_state() is CertificateState.RENEWAL_DUE
    assert node.renewal_due() and "due for renewal" in caplog.text
    clock.advance(days=5)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert node.log_state() is CertificateState.EXPIRING
    assert caplog.records[-1].levelno == logging.WARNING
    clock.advance(days=5)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert node.log_state() is CertificateState.EXPIRED
    assert caplog.records[-1].levelno == logging.ERROR and "enroll" in caplog.text


def test_renewal_keeps_the_old_identity_until_install(node, service, authority, clock):
    old = enroll(node, service, authority)
    clock.advance(days=21)
    csr = node.new_csr()
    assert node.credentials().certificate_pem == old.certificate_pem  # still the old pair
    new = service.renew("node-1", old.serial, csr)
    node.install(new.certificate_pem)  # the CA pinned at enrollment is used
    assert format(node.certificate().serial_number, "x") == new.serial
    assert node.state() is CertificateState.VALID


def test_an_install_interrupted_between_renames_is_finished_on_start(
    node, service, authority, tmp_path
):
    old = enroll(node, service, authority)
    new = service.renew("node-1", old.serial, node.new_csr())
    # The state a stop leaves after writing the new certificate, before any rename.
    (node.directory / NEW_CERT_FILE).write_bytes(new.certificate_pem)
    restarted = NodePKI("node-1", node.directory, clock=node.clock)
    assert format(restarted.certificate().serial_number, "x") == new.serial
    assert not (node.directory / PENDING_KEY_FILE).exists()
    assert not (node.directory / NEW_CERT_FILE).exists()
    from stratus_common import keys

    key = keys.load_private_key(node.directory / KEY_FILE)
    assert keys.public_key_der(key.public_key()) == keys.public_key_der(
        restarted.certificate().public_key()
    )


def test_an_unrelated_leftover_certificate_is_discarded(node, service, authority):
    old = enroll(node, service, authority)
    (node.directory / NEW_CERT_FILE).write_bytes(b"garbage")
    restarted = NodePKI("node-1", node.directory, clock=node.clock)
    assert format(restarted.certificate().serial_number, "x") == old.serial
    assert not (node.directory / NEW_CERT_FILE).exists()


def test_credentials_without_enrollment_say_what_to_do(node):
    with pytest.raises(PKIError, match="enroll"):
        node.credentials()
    assert (node.directory / CERT_FILE).exists() is False
