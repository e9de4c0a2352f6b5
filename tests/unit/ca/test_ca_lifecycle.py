"""Renewal, identity checks at connect, revocation, the CRL and listing."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from controller.ca.records import CertificateStatus
from stratus_common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from tests.unit.ca.ca_fixtures import make_csr


def enroll(service, host="node-1", key=None):
    _, secret = service.create_enrollment_token(host)
    return service.enroll(secret, make_csr(host, key=key))


def test_renewal_issues_a_new_certificate_and_keeps_the_old_one_valid(service, clock):
    old = enroll(service)
    clock.advance(days=20)
    new = service.renew("node-1", old.serial, make_csr("node-1"))
    assert new.serial != old.serial and new.renewed_from == old.serial
    assert new.not_after == clock() + datetime.timedelta(days=30)
    assert service.check_peer("node-1", old.serial) == old
    assert service.check_peer("node-1", new.serial) == new


def test_renewal_must_use_a_new_key(service):
    key = ec.generate_private_key(ec.SECP256R1())
    old = enroll(service, key=key)
    with pytest.raises(InvalidArgument) as caught:
        service.renew("node-1", old.serial, make_csr("node-1", key=key))
    assert caught.value.reason == "RENEWAL_KEY_REUSED"


def test_renewal_for_another_host_is_refused(service):
    old = enroll(service)
    with pytest.raises(PermissionDenied) as caught:
        service.renew("node-1", old.serial, make_csr("node-2"))
    assert caught.value.reason == "RENEWAL_HOST_MISMATCH"
    assert service.list(host_name="node-2") == []


def test_a_revoked_certificate_cannot_renew(service):
    old = enroll(service)
    service.revoke(old.serial)
    with pytest.raises(Unauthenticated):
        service.renew("node-1", old.serial, make_csr("node-1"))
    assert len(service.list()) == 1


def test_check_peer_refuses_unknown_revoked_and_mismatched_identities(service):
    record = enroll(service)
    assert service.check_peer("node-1", record.serial) == record
    for host, serial in [("node-1", "abc"), ("node-2", record.serial)]:
        with pytest.raises(Unauthenticated) as caught:
            service.check_peer(host, serial)
        assert caught.value.reason == "CERTIFICATE_UNKNOWN"
    service.revoke(record.serial, "stolen")
    with pytest.raises(Unauthenticated) as caught:
        service.check_peer("node-1", record.serial)
    assert caught.value.reason == "CERTIFICATE_REVOKED"


def test_revocation_notifies_listeners_and_keeps_the_first_date(service, clock):
    record = enroll(service)
    heard = []
    service.add_revocation_listener(lambda records: heard.extend(r.serial for r in records))
    service.add_revocation_listener(lambda records: 1 / 0)  # a broken one hides nothing
    first = service.revoke(record.serial.upper(), "stolen")
    assert heard == [record.serial]
    assert first.status(clock()) is CertificateStatus.REVOKED
    assert first.revocation_reason == "stolen"
    clock.advance(hours=1)
    assert service.revoke(record.serial).revoked_at == first.revoked_at


def test_revoking_an_unknown_serial_is_not_found(service):
    with pytest.raises(NotFound):
        service.revoke("deadbeef")


def test_server_certificates_are_listed_but_not_revocable(service, authority, clock):
    _, certificate = authority.issue_server_certificate(dns_names=["ctl"], now=clock())
    record = service.record_server_certificate(certificate, "node-listener")
    assert service.record_server_certificate(certificate, "node-listener") == record
    with pytest.raises(FailedPrecondition):
        service.revoke(record.serial)
    with pytest.raises(Unauthenticated):
        service.check_peer("node-listener", record.serial)


def test_revoking_a_host_revokes_all_its_certificates(service):
    a, b = enroll(service), enroll(service)
    other = enroll(service, "node-2")
    heard = []
    service.add_revocation_listener(lambda records: heard.extend(r.serial for r in records))
    revoked = service.revoke_host("NODE-1", "compute service deleted")
    assert {r.serial for r in revoked} == set(heard) == {a.serial, b.serial}
    assert service.check_peer("node-2", other.serial) == other
    assert service.revoke_host("node-1") == []


def test_crl_lists_revoked_unexpired_certificates(service, authority, clock):
    kept, expired_later, active = enroll(service), enroll(service), enroll(service)
    service.revoke(kept.serial)
    service.revoke(expired_later.serial)
    crl = service.crl()
    assert crl.is_signature_valid(authority.certificate.public_key())
    assert {format(r.serial_number, "x") for r in crl} == {kept.serial, expired_later.serial}
    assert crl.get_revoked_certificate_by_serial_number(int(active.serial, 16)) is None
    clock.advance(days=31)  # every certificate has expired: nothing left to list
    assert list(service.crl()) == []


def test_listing_pages_in_creation_order_and_filters(service, clock):
    made = []
    for host in ["node-1", "node-2", "node-1", "node-3"]:
        made.append(enroll(service, host))
        clock.advance(seconds=1)
    page = service.list(limit=2)
    assert page == made[:2]
    last = page[-1]
    assert service.list(after=(last.created_at, last.serial), limit=10) == made[2:]
    assert service.list(host_name="node-1") == [made[0], made[2]]
    service.revoke(made[1].serial)
    assert service.list(status=CertificateStatus.REVOKED) == [service.get(made[1].serial)]
    clock.advance(days=40)
    assert len(service.list(status=CertificateStatus.EXPIRED)) == 3


def test_get_unknown_is_not_found(service):
    with pytest.raises(NotFound):
        service.get("0")
    record = enroll(service)
    assert x509.load_pem_x509_certificate(service.get(record.serial).certificate_pem)
