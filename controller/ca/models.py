"""peewee models of the CA tables (schema: controller/db/migrations/m0200_ca.py)."""

import peewee

from controller.db.database import BaseModel


class EnrollmentTokenRow(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    token_hash = peewee.CharField(max_length=64, unique=True)
    host_name = peewee.CharField(max_length=253)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()
    used_at = peewee.DateTimeField(null=True)
    created_by = peewee.CharField(max_length=36, null=True)

    class Meta:
        table_name = "enrollment_token"


class CertificateRow(BaseModel):
    serial = peewee.CharField(primary_key=True, max_length=40)
    kind = peewee.CharField(max_length=16)
    host_name = peewee.CharField(max_length=253)
    subject = peewee.TextField()
    fingerprint_sha256 = peewee.CharField(max_length=95)
    not_before = peewee.DateTimeField()
    not_after = peewee.DateTimeField()
    certificate_pem = peewee.TextField()
    created_at = peewee.DateTimeField()
    revoked_at = peewee.DateTimeField(null=True)
    revocation_reason = peewee.TextField(null=True)
    renewed_from = peewee.CharField(max_length=40, null=True)

    class Meta:
        table_name = "certificate"
