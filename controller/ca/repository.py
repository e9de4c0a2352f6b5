"""The CA's persistence port, and an in-memory adapter that keeps the same promises.

The database adapter implements `CARepository` with peewee; `MemoryCARepository` is the
fake beside it, for tests and tools that need no database. Both must pass the same
contract tests (tests/unit/ca/test_repository_contract.py).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime
import threading
from collections.abc import Iterator

from controller.ca.records import (
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EnrollmentToken,
)
from stratus_common.errors import AlreadyExists


class CARepository(abc.ABC):
    """Tokens and certificates. Every method is one unit of work unless inside `atomic()`."""

    @abc.abstractmethod
    def atomic(self) -> contextlib.AbstractContextManager:
        """A transaction: the calls inside it commit together or not at all."""

    # -- enrollment tokens ------------------------------------------------------------

    @abc.abstractmethod
    def add_enrollment_token(self, token: EnrollmentToken) -> None:
        """Store a new token; AlreadyExists if its id or hash is taken."""

    @abc.abstractmethod
    def find_enrollment_token(self, token_hash: str) -> EnrollmentToken | None:
        """The token whose secret hashes to `token_hash`, used or not."""

    @abc.abstractmethod
    def mark_enrollment_token_used(self, token_id: str, used_at: datetime.datetime) -> bool:
        """Burn the token if it is still unused and return True; False if already used.

        This is the one guard against two concurrent enrollments with one token: it must
        be a single conditional update, never a read then a write.
        """

    # -- certificates -----------------------------------------------------------------

    @abc.abstractmethod
    def add_certificate(self, record: CertificateRecord) -> None:
        """Store an issued certificate; AlreadyExists if the serial is taken."""

    @abc.abstractmethod
    def get_certificate(self, serial: str) -> CertificateRecord | None: ...

    @abc.abstractmethod
    def list_certificates(self, query: CertificateQuery) -> list[CertificateRecord]:
        """At most `query.limit` records after `query.after`, by (created_at, serial)."""

    @abc.abstractmethod
    def revoke_certificate(
        self, serial: str, revoked_at: datetime.datetime, reason: str
    ) -> CertificateRecord | None:
        """Mark one certificate revoked (a second revocation keeps the first date)."""

    @abc.abstractmethod
    def revoke_host_certificates(
        self, host_name: str, revoked_at: datetime.datetime, reason: str
    ) -> list[CertificateRecord]:
        """Revoke every unrevoked certificate of `host_name`; return those just revoked."""

    @abc.abstractmethod
    def list_revoked(
        self,
        *,
        revoked_since: datetime.datetime | None = None,
        expiring_after: datetime.datetime | None = None,
    ) -> list[CertificateRecord]:
        """Revoked certificates, optionally only those revoked at or after `revoked_since`, and
        those still unexpired at `expiring_after` (an expired one needs no CRL entry)."""


class MemoryCARepository(CARepository):
    """Dictionaries behind one lock. `atomic()` holds the lock; it does not roll back."""

    def __init__(self):
        self._lock = threading.RLock()
        self._tokens: dict[str, EnrollmentToken] = {}
        self._certificates: dict[str, CertificateRecord] = {}

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        with self._lock:
            yield

    def add_enrollment_token(self, token):
        with self._lock:
            if token.id in self._tokens or self.find_enrollment_token(token.token_hash):
                raise AlreadyExists("enrollment token exists", id=token.id)
            self._tokens[token.id] = token

    def find_enrollment_token(self, token_hash):
        with self._lock:
            return next((t for t in self._tokens.values() if t.token_hash == token_hash), None)

    def mark_enrollment_token_used(self, token_id, used_at):
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None or token.used_at is not None:
                return False
            self._tokens[token_id] = dataclasses.replace(token, used_at=used_at)
            return True

    def add_certificate(self, record):
        with self._lock:
            if record.serial in self._certificates:
                raise AlreadyExists("certificate serial exists", serial=record.serial)
            self._certificates[record.serial] = record

    def get_certificate(self, serial):
        with self._lock:
            return self._certificates.get(serial)

    def list_certificates(self, query):
        with self._lock:
            records = sorted(self._certificates.values(), key=lambda r: (r.created_at, r.serial))
        selected = []
        for record in records:
            if query.after is not None and (record.created_at, record.serial) <= query.after:
                continue
            if query.host_name is not None and record.host_name != query.host_name:
                continue
            if query.status is not None and _status_at(record, query) != query.status:
                continue
            selected.append(record)
            if len(selected) >= query.limit:
                break
        return selected

    def revoke_certificate(self, serial, revoked_at, reason):
        with self._lock:
            record = self._certificates.get(serial)
            if record is None or record.revoked_at is not None:
                return record
            record = dataclasses.replace(record, revoked_at=revoked_at, revocation_reason=reason)
            self._certificates[serial] = record
            return record

    def revoke_host_certificates(self, host_name, revoked_at, reason):
        with self._lock:
            serials = [
                r.serial
                for r in self._certificates.values()
                if r.host_name == host_name and r.revoked_at is None
            ]
            return [self.revoke_certificate(s, revoked_at, reason) for s in serials]

    def list_revoked(self, *, revoked_since=None, expiring_after=None):
        with self._lock:
            return sorted(
                (
                    r
                    for r in self._certificates.values()
                    if r.revoked_at is not None
                    and (revoked_since is None or r.revoked_at >= revoked_since)
                    and (expiring_after is None or r.not_after > expiring_after)
                ),
                key=lambda r: (r.revoked_at, r.serial),
            )


def _status_at(record: CertificateRecord, query: CertificateQuery) -> CertificateStatus:
    if query.now is None:
        raise ValueError("filtering by status needs query.now")
    return record.status(query.now)
