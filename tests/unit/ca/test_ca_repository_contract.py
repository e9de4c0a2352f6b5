"""The promises every CARepository keeps; each implementation is added to REPOSITORIES."""
import dataclasses
import datetime
import threading

import pytest

from controller.ca.records import (CertificateKind, CertificateQuery, CertificateRecord,
                                   CertificateStatus, EnrollmentToken)
from controller.ca.repository import MemoryCARepository
from controller.errors import AlreadyExists
from tests.unit.ca.ca_fixtures import T0

REPOSITORIES = {"memory": lambda tmp_path: MemoryCARepository()}


@pytest.fixture(params=sorted(REPOSITORIES))
def repo(request, tmp_path):
    return REPOSITORIES[request.param](tmp_path)


def token(n=1, **changes) -> EnrollmentToken:
    base = EnrollmentToken(id=f"00000000-0000-0000-0000-{n:012d}", token_hash=f"{n:064x}",
                           host_name="node-1", created_at=T0,
                           expires_at=T0 + datetime.timedelta(hours=1))
    return dataclasses.replace(base, **changes)


def certificate(serial="a1", host="node-1", created=T0, days=30, **changes):
    base = CertificateRecord(
        serial=serial, kind=CertificateKind.CLIENT, host_name=host, subject=f"CN={host}",
        fingerprint_sha256="AA:BB", not_before=created,
        not_after=created + datetime.timedelta(days=days),
        certificate_pem=b"-----BEGIN CERTIFICATE-----\n", created_at=created)
    return dataclasses.replace(base, **changes)


def test_tokens_are_found_by_hash_and_unique(repo):
    repo.add_enrollment_token(token(1))
    assert repo.find_enrollment_token(token(1).token_hash) == token(1)
    assert repo.find_enrollment_token("f" * 64) is None
    with pytest.raises(AlreadyExists):
        repo.add_enrollment_token(token(2, token_hash=token(1).token_hash))


def test_a_token_burns_once(repo):
    repo.add_enrollment_token(token(1))
    assert repo.mark_enrollment_token_used(token(1).id, T0) is True
    assert repo.mark_enrollment_token_used(token(1).id, T0) is False
    assert repo.find_enrollment_token(token(1).token_hash).used_at == T0
    assert repo.mark_enrollment_token_used("no-such-id", T0) is False


def test_only_one_of_many_concurrent_burns_wins(repo):
    repo.add_enrollment_token(token(1))
    results, barrier = [], threading.Barrier(8)

    def burn():
        barrier.wait()
        results.append(repo.mark_enrollment_token_used(token(1).id, T0))
    threads = [threading.Thread(target=burn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_certificates_round_trip_and_serials_are_unique(repo):
    record = certificate("a1")
    repo.add_certificate(record)
    assert repo.get_certificate("a1") == record
    assert repo.get_certificate("b2") is None
    with pytest.raises(AlreadyExists):
        repo.add_certificate(certificate("a1", host="node-2"))


def test_listing_is_keyset_paged_and_filtered(repo):
    records = [certificate(f"{i:x}", host=f"node-{i % 2}",
                           created=T0 + datetime.timedelta(seconds=i)) for i in range(1, 6)]
    for record in reversed(records):
        repo.add_certificate(record)
    first = repo.list_certificates(CertificateQuery(limit=2))
    assert first == records[:2]
    rest = repo.list_certificates(CertificateQuery(after=(first[-1].created_at,
                                                          first[-1].serial)))
    assert rest == records[2:]
    assert repo.list_certificates(CertificateQuery(host_name="node-0")) == [records[1],
                                                                            records[3]]
    repo.revoke_certificate("3", T0, "x")
    now = T0 + datetime.timedelta(days=1)
    assert [r.serial for r in repo.list_certificates(
        CertificateQuery(status=CertificateStatus.REVOKED, now=now))] == ["3"]
    assert len(repo.list_certificates(
        CertificateQuery(status=CertificateStatus.ACTIVE, now=now))) == 4
    expired = repo.list_certificates(CertificateQuery(
        status=CertificateStatus.EXPIRED, now=T0 + datetime.timedelta(days=60)))
    assert [r.serial for r in expired] == ["1", "2", "4", "5"]  # "3" stays REVOKED


def test_revocation_keeps_the_first_date_and_lists(repo):
    repo.add_certificate(certificate("a1"))
    repo.add_certificate(certificate("b2", days=1))
    repo.add_certificate(certificate("c3", host="node-2"))
    later = T0 + datetime.timedelta(hours=2)
    assert repo.revoke_certificate("a1", T0, "first").revoked_at == T0
    assert repo.revoke_certificate("a1", later, "second").revocation_reason == "first"
    assert repo.revoke_certificate("zz", T0, "x") is None
    just = repo.revoke_host_certificates("node-1", later, "host deleted")
    assert [r.serial for r in just] == ["b2"]
    assert [r.serial for r in repo.list_revoked()] == ["a1", "b2"]
    assert [r.serial for r in repo.list_revoked(revoked_since=later)] == ["b2"]
    assert [r.serial for r in repo.list_revoked(
        expiring_after=T0 + datetime.timedelta(days=2))] == ["a1"]


def test_atomic_is_a_context_manager(repo):
    with repo.atomic():
        repo.add_certificate(certificate("a1"))
    assert repo.get_certificate("a1") is not None
