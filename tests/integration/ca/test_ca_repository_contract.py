"""The promises every CARepository keeps, checked on each implementation.

The database one is the real controller's (SQLite, or PostgreSQL with
STRATUS_TEST_DATABASE=postgresql), shared with other tests: every row here has fresh ids.
"""

import contextlib
import dataclasses
import datetime
import hashlib
import threading
import uuid

import pytest

from controller.ca.db_repository import DatabaseCARepository
from controller.ca.records import (
    CertificateKind,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EnrollmentToken,
)
from controller.ca.repository import MemoryCARepository
from stratus_common.errors import AlreadyExists
from tests.unit.ca.ca_fixtures import T0


class InConnection:
    """Runs every repository call in its own connection context, as `db.run` does."""

    def __init__(self, db):
        self._db = db
        self._repository = DatabaseCARepository(db)

    def atomic(self):
        return _connected_atomic(self._db, self._repository)

    def __getattr__(self, name):
        method = getattr(self._repository, name)
        return lambda *args, **kwargs: self._db.call(method, *args, **kwargs)


@contextlib.contextmanager
def _connected_atomic(db, repository):
    with db.engine.connection_context(), repository.atomic():
        yield


@pytest.fixture(params=["memory", "database"])
def repo(request):
    if request.param == "memory":
        return MemoryCARepository()
    return InConnection(request.getfixturevalue("db"))


@pytest.fixture
def u():
    """A prefix that makes this test's ids and host names its own."""
    return uuid.uuid4().hex[:12]


def token(u, n=1, **changes) -> EnrollmentToken:
    base = EnrollmentToken(
        id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{u}-{n}")),
        token_hash=hashlib.sha256(f"{u}-{n}".encode()).hexdigest(),
        host_name=f"node-{u}",
        created_at=T0,
        expires_at=T0 + datetime.timedelta(hours=1),
    )
    return dataclasses.replace(base, **changes)


def certificate(serial, host, created=T0, days=30, **changes):
    base = CertificateRecord(
        serial=serial,
        kind=CertificateKind.CLIENT,
        host_name=host,
        subject=f"CN={host}",
        fingerprint_sha256="AA:BB",
        not_before=created,
        not_after=created + datetime.timedelta(days=days),
        certificate_pem=b"-----BEGIN CERTIFICATE-----\n",
        created_at=created,
    )
    return dataclasses.replace(base, **changes)


def test_tokens_are_found_by_hash_and_unique(repo, u):
    repo.add_enrollment_token(token(u, 1))
    assert repo.find_enrollment_token(token(u, 1).token_hash) == token(u, 1)
    assert repo.find_enrollment_token(token(u, 9).token_hash) is None
    with pytest.raises(AlreadyExists):
        repo.add_enrollment_token(token(u, 2, token_hash=token(u, 1).token_hash))


def test_a_token_burns_once(repo, u):
    repo.add_enrollment_token(token(u, 1))
    assert repo.mark_enrollment_token_used(token(u, 1).id, T0) is True
    assert repo.mark_enrollment_token_used(token(u, 1).id, T0) is False
    assert repo.find_enrollment_token(token(u, 1).token_hash).used_at == T0
    assert repo.mark_enrollment_token_used(str(uuid.uuid4()), T0) is False


def test_only_one_of_many_concurrent_burns_wins(repo, u):
    repo.add_enrollment_token(token(u, 1))
    results, barrier = [], threading.Barrier(8)

    def burn():
        barrier.wait()
        results.append(repo.mark_enrollment_token_used(token(u, 1).id, T0))

    threads = [threading.Thread(target=burn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_certificates_round_trip_and_serials_are_unique(repo, u):
    record = certificate(f"{u}a1", f"node-{u}")
    repo.add_certificate(record)
    assert repo.get_certificate(record.serial) == record
    assert repo.get_certificate(f"{u}b2") is None
    with pytest.raises(AlreadyExists):
        repo.add_certificate(certificate(record.serial, f"other-{u}"))


def test_listing_is_keyset_paged_and_filtered(repo, u):
    hosts = [f"even-{u}", f"odd-{u}"]
    records = [
        certificate(f"{u}{i:x}", hosts[i % 2], created=T0 + datetime.timedelta(seconds=i))
        for i in range(1, 6)
    ]
    for record in reversed(records):
        repo.add_certificate(record)

    def listed(**query):
        return repo.list_certificates(CertificateQuery(**query))

    first = listed(host_name=hosts[1], limit=2)
    assert first == [records[0], records[2]]
    assert listed(host_name=hosts[1], after=(first[-1].created_at, first[-1].serial)) == [
        records[4]
    ]
    assert listed(host_name=hosts[0]) == [records[1], records[3]]
    repo.revoke_certificate(records[2].serial, T0, "x")
    now = T0 + datetime.timedelta(days=1)
    assert listed(host_name=hosts[1], status=CertificateStatus.REVOKED, now=now) == [
        repo.get_certificate(records[2].serial)
    ]
    assert listed(host_name=hosts[1], status=CertificateStatus.ACTIVE, now=now) == [
        records[0],
        records[4],
    ]
    later = T0 + datetime.timedelta(days=60)
    assert listed(host_name=hosts[1], status=CertificateStatus.EXPIRED, now=later) == [
        records[0],
        records[4],
    ]  # the revoked one stays REVOKED


def test_revocation_keeps_the_first_date_and_lists(repo, u):
    host, other = f"node-{u}", f"other-{u}"
    a1, b2, c3 = (
        certificate(f"{u}a1", host),
        certificate(f"{u}b2", host, days=1),
        certificate(f"{u}c3", other),
    )
    for record in (a1, b2, c3):
        repo.add_certificate(record)
    later = T0 + datetime.timedelta(hours=2)
    assert repo.revoke_certificate(a1.serial, T0, "first").revoked_at == T0
    assert repo.revoke_certificate(a1.serial, later, "second").revocation_reason == "first"
    assert repo.revoke_certificate(f"{u}zz", T0, "x") is None
    just = repo.revoke_host_certificates(host, later, "host deleted")
    assert [r.serial for r in just] == [b2.serial]
    assert repo.get_certificate(c3.serial).revoked_at is None
    mine = {a1.serial, b2.serial, c3.serial}

    def revoked(**kwargs):
        return [r.serial for r in repo.list_revoked(**kwargs) if r.serial in mine]

    assert revoked() == [a1.serial, b2.serial]
    assert revoked(revoked_since=later) == [b2.serial]
    assert revoked(expiring_after=T0 + datetime.timedelta(days=2)) == [a1.serial]


def test_atomic_commits_together(repo, u):
    with repo.atomic():
        repo.add_certificate(certificate(f"{u}a1", f"node-{u}"))
    assert repo.get_certificate(f"{u}a1") is not None
