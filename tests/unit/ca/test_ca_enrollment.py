"""Enrollment tokens and enrollment: every refusal leaves the token and the store as they were."""

import dataclasses
import datetime
import logging

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from controller.ca import tokens
from controller.ca.records import CertificateKind
from stratus_common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from tests.unit.ca.ca_fixtures import make_csr, rsa_key


def test_token_secret_is_long_random_and_only_its_hash_is_stored(service, repository):
    token, secret = service.create_enrollment_token("node-1")
    assert len(secret) >= 43  # 256 bits, url-safe base64
    assert secret.replace("-", "").replace("_", "").isalnum()
    stored = repository.find_enrollment_token(tokens.hash_secret(secret))
    assert stored == token and stored.used_at is None
    assert secret not in repr(dataclasses.asdict(stored))
    assert token.expires_at - token.created_at == datetime.timedelta(hours=1)
    _, other = service.create_enrollment_token("node-1")
    assert other != secret


def test_enrollment_signs_a_client_certificate_and_burns_the_token(
    service, repository, authority, clock
):
    key = ec.generate_private_key(ec.SECP256R1())
    token, secret = service.create_enrollment_token("Node-1")
    record = service.enroll(secret, make_csr("node-1", key=key))
    certificate = x509.load_pem_x509_certificate(record.certificate_pem)
    assert authority.issued(certificate)
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value[0] == (
        ExtendedKeyUsageOID.CLIENT_AUTH
    )
    assert record.host_name == "node-1" and record.kind is CertificateKind.CLIENT
    assert record.not_after == clock() + datetime.timedelta(days=30)
    assert repository.get_certificate(record.serial) == record
    assert repository.find_enrollment_token(token.token_hash).used_at == clock()


def _certificates(repository):
    from controller.ca.records import CertificateQuery

    return repository.list_certificates(CertificateQuery())


def test_a_reused_token_is_refused(service, repository):
    _, secret = service.create_enrollment_token("node-1")
    service.enroll(secret, make_csr("node-1"))
    with pytest.raises(Unauthenticated) as caught:
        service.enroll(secret, make_csr("node-1"))
    assert caught.value.reason == "ENROLLMENT_TOKEN_USED"
    assert len(_certificates(repository)) == 1


def test_an_expired_token_is_refused(service, repository, clock):
    token, secret = service.create_enrollment_token("node-1", ttl=datetime.timedelta(minutes=10))
    clock.advance(minutes=10)
    with pytest.raises(Unauthenticated) as caught:
        service.enroll(secret, make_csr("node-1"))
    assert caught.value.reason == "ENROLLMENT_TOKEN_EXPIRED"
    assert repository.find_enrollment_token(token.token_hash).used_at is None
    assert _certificates(repository) == []


@pytest.mark.parametrize("secret", ["x" * 43, "", "y" * 5000])
def test_a_forged_token_is_refused(service, repository, secret):
    service.create_enrollment_token("node-1")
    with pytest.raises(Unauthenticated) as caught:
        service.enroll(secret, make_csr("node-1"))
    assert caught.value.reason == "ENROLLMENT_TOKEN_INVALID"
    assert _certificates(repository) == []


def test_a_token_for_another_host_is_refused_and_stays_usable(service, repository):
    token, secret = service.create_enrollment_token("node-1")
    with pytest.raises(PermissionDenied) as caught:
        service.enroll(secret, make_csr("node-2"))
    assert caught.value.reason == "ENROLLMENT_TOKEN_HOST_MISMATCH"
    assert repository.find_enrollment_token(token.token_hash).used_at is None
    assert service.enroll(secret, make_csr("node-1")).host_name == "node-1"


@pytest.mark.parametrize(
    "csr, reason",
    [
        (
            lambda: make_csr("node-1", sans=[x509.DNSName("node-1"), x509.DNSName("evil")]),
            "CSR_BAD_SAN",
        ),
        (lambda: make_csr("node-1", ca=True), "CSR_REQUESTS_CA"),
        (lambda: make_csr("node-1", key=rsa_key(1024)), "CSR_WEAK_KEY"),
    ],
    ids=["extra-san", "ca", "rsa-1024"],
)
def test_a_bad_csr_is_refused_without_burning_the_token(service, repository, csr, reason, caplog):
    token, secret = service.create_enrollment_token("node-1")
    with caplog.at_level(logging.WARNING), pytest.raises(InvalidArgument) as caught:
        service.enroll(secret, csr())
    assert caught.value.reason == reason
    assert reason in caplog.text and secret not in caplog.text
    assert repository.find_enrollment_token(token.token_hash).used_at is None
    assert _certificates(repository) == []


def test_the_secret_is_never_logged(service, caplog):
    with caplog.at_level(logging.DEBUG):
        _, secret = service.create_enrollment_token("node-1")
        service.enroll(secret, make_csr("node-1"))
    assert "node-1" in caplog.text and secret not in caplog.text


@pytest.mark.parametrize(
    "ttl", [datetime.timedelta(0), datetime.timedelta(seconds=-1), datetime.timedelta(days=8)]
)
def test_token_lifetime_must_be_positive_and_bounded(service, repository, ttl):
    with pytest.raises(InvalidArgument) as caught:
        service.create_enrollment_token("node-1", ttl=ttl)
    assert caught.value.violations[0].field == "ttl"


def test_token_host_name_must_be_a_host_name(service):
    with pytest.raises(InvalidArgument):
        service.create_enrollment_token("not a host")


def test_a_concurrently_burnt_token_is_refused(service, repository, monkeypatch):
    """The conditional update is the last guard: a read that raced another enrollment."""
    _, secret = service.create_enrollment_token("node-1")
    real_find = repository.find_enrollment_token

    def find_then_lose_the_race(token_hash):
        token = real_find(token_hash)
        repository.mark_enrollment_token_used(token.id, token.created_at)
        return token  # the stale, unused view

    monkeypatch.setattr(repository, "find_enrollment_token", find_then_lose_the_race)
    with pytest.raises(Unauthenticated) as caught:
        service.enroll(secret, make_csr("node-1"))
    assert caught.value.reason == "ENROLLMENT_TOKEN_USED"
    assert _certificates(repository) == []
