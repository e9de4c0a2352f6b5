"""CARepository on the controller's database (peewee; SQLite or PostgreSQL).

Methods run inside a connection context (`await db.run(...)` or `db.call(...)`). Columns
hold naive UTC; records carry aware UTC datetimes.
"""

from __future__ import annotations

import contextlib
import datetime

import peewee

from controller.ca.models import CertificateRow, EnrollmentTokenRow
from controller.ca.records import (
    CertificateKind,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EnrollmentToken,
)
from controller.ca.repository import CARepository
from stratus_common.errors import AlreadyExists


def _column(moment: datetime.datetime | None) -> datetime.datetime | None:
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def _aware(moment: datetime.datetime | None) -> datetime.datetime | None:
    return None if moment is None else moment.replace(tzinfo=datetime.UTC)


def _token(row: EnrollmentTokenRow) -> EnrollmentToken:
    return EnrollmentToken(
        id=row.id,
        token_hash=row.token_hash,
        host_name=row.host_name,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at),
        used_at=_aware(row.used_at),
        created_by=row.created_by,
    )


def _certificate(row: CertificateRow) -> CertificateRecord:
    return CertificateRecord(
        serial=row.serial,
        kind=CertificateKind(row.kind),
        host_name=row.host_name,
        subject=row.subject,
        fingerprint_sha256=row.fingerprint_sha256,
        not_before=_aware(row.not_before),
        not_after=_aware(row.not_after),
        certificate_pem=row.certificate_pem.encode(),
        created_at=_aware(row.created_at),
        revoked_at=_aware(row.revoked_at),
        revocation_reason=row.revocation_reason,
        renewed_from=row.renewed_from,
    )


@contextlib.contextmanager
def _unique(what: str, **metadata):
    try:
        yield
    except peewee.IntegrityError:
        raise AlreadyExists(
            f"{what} already exists", reason=f"{what.upper()}_EXISTS", **metadata
        ) from None


class DatabaseCARepository(CARepository):
    def __init__(self, db):
        self._db = db  # controller.db.database.Database

    def atomic(self):
        return self._db.write_transaction()

    # -- enrollment tokens ------------------------------------------------------------

    def add_enrollment_token(self, token):
        with _unique("enrollment_token", id=token.id):
            EnrollmentTokenRow.insert(
                id=token.id,
                token_hash=token.token_hash,
                host_name=token.host_name,
                created_at=_column(token.created_at),
                expires_at=_column(token.expires_at),
                used_at=_column(token.used_at),
                created_by=token.created_by,
            ).execute()

    def find_enrollment_token(self, token_hash):
        row = EnrollmentTokenRow.get_or_none(EnrollmentTokenRow.token_hash == token_hash)
        return None if row is None else _token(row)

    def mark_enrollment_token_used(self, token_id, used_at):
        updated = (
            EnrollmentTokenRow.update(used_at=_column(used_at))
            .where((EnrollmentTokenRow.id == token_id) & EnrollmentTokenRow.used_at.is_null())
            .execute()
        )
        return updated == 1

    # -- certificates -----------------------------------------------------------------

    def add_certificate(self, record):
        with _unique("certificate", serial=record.serial):
            CertificateRow.insert(
                serial=record.serial,
                kind=record.kind.value,
                host_name=record.host_name,
                subject=record.subject,
                fingerprint_sha256=record.fingerprint_sha256,
                not_before=_column(record.not_before),
                not_after=_column(record.not_after),
                certificate_pem=record.certificate_pem.decode(),
                created_at=_column(record.created_at),
                revoked_at=_column(record.revoked_at),
                revocation_reason=record.revocation_reason,
                renewed_from=record.renewed_from,
            ).execute()

    def get_certificate(self, serial):
        row = CertificateRow.get_or_none(CertificateRow.serial == serial)
        return None if row is None else _certificate(row)

    def list_certificates(self, query: CertificateQuery):
        rows = CertificateRow.select()
        if query.host_name is not None:
            rows = rows.where(CertificateRow.host_name == query.host_name)
        if query.status is not None:
            rows = rows.where(_status_condition(query))
        if query.after is not None:
            created, serial = _column(query.after[0]), query.after[1]
            rows = rows.where(
                (CertificateRow.created_at > created)
                | ((CertificateRow.created_at == created) & (CertificateRow.serial > serial))
            )
        rows = rows.order_by(CertificateRow.created_at, CertificateRow.serial).limit(query.limit)
        return [_certificate(row) for row in rows]

    def revoke_certificate(self, serial, revoked_at, reason):
        (
            CertificateRow.update(revoked_at=_column(revoked_at), revocation_reason=reason)
            .where((CertificateRow.serial == serial) & CertificateRow.revoked_at.is_null())
            .execute()
        )
        return self.get_certificate(serial)

    def revoke_host_certificates(self, host_name, revoked_at, reason):
        with self.atomic():
            serials = [
                row.serial
                for row in CertificateRow.select(CertificateRow.serial).where(
                    (CertificateRow.host_name == host_name) & CertificateRow.revoked_at.is_null()
                )
            ]
            if not serials:
                return []
            (
                CertificateRow.update(revoked_at=_column(revoked_at), revocation_reason=reason)
                .where(CertificateRow.serial.in_(serials) & CertificateRow.revoked_at.is_null())
                .execute()
            )
            return [
                _certificate(row)
                for row in CertificateRow.select()
                .where(CertificateRow.serial.in_(serials))
                .order_by(CertificateRow.serial)
            ]

    def list_revoked(self, *, revoked_since=None, expiring_after=None):
        rows = CertificateRow.select().where(CertificateRow.revoked_at.is_null(False))
        if revoked_since is not None:
            rows = rows.where(CertificateRow.revoked_at >= _column(revoked_since))
        if expiring_after is not None:
            rows = rows.where(CertificateRow.not_after > _column(expiring_after))
        rows = rows.order_by(CertificateRow.revoked_at, CertificateRow.serial)
        return [_certificate(row) for row in rows]


def _status_condition(query: CertificateQuery):
    if query.status is CertificateStatus.REVOKED:
        return CertificateRow.revoked_at.is_null(False)
    if query.now is None:
        raise ValueError("filtering by status needs query.now")
    now = _column(query.now)
    if query.status is CertificateStatus.EXPIRED:
        return CertificateRow.revoked_at.is_null() & (CertificateRow.not_after <= now)
    return CertificateRow.revoked_at.is_null() & (CertificateRow.not_after > now)
