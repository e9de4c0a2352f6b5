"""peewee models of the identity tables (schema: controller/db/migrations/m0001_identity.py)."""

import peewee

from controller.db.database import BaseModel


class Project(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField(unique=True)
    description = peewee.TextField(default="")
    enabled = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()


class User(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField(unique=True)
    email = peewee.CharField(default="")
    description = peewee.TextField(default="")
    enabled = peewee.BooleanField(default=True)
    default_project = peewee.ForeignKeyField(
        Project, null=True, column_name="default_project_id", on_delete="SET NULL", lazy_load=False
    )
    password_hash = peewee.CharField()
    password_changed_at = peewee.DateTimeField()
    failed_auth_count = peewee.IntegerField(default=0)
    locked_until = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "user_account"


class Role(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField(unique=True)
    description = peewee.TextField(default="")
    created_at = peewee.DateTimeField()


class RoleAssignment(BaseModel):
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE", lazy_load=False)
    project = peewee.ForeignKeyField(
        Project, column_name="project_id", on_delete="CASCADE", lazy_load=False
    )
    role = peewee.ForeignKeyField(Role, column_name="role_id", lazy_load=False)
    created_at = peewee.DateTimeField()

    class Meta:
        primary_key = peewee.CompositeKey("user", "project", "role")


class CatalogService(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    type = peewee.CharField(max_length=64)
    name = peewee.CharField()
    description = peewee.TextField(default="")
    enabled = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()


class CatalogEndpoint(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    service = peewee.ForeignKeyField(
        CatalogService, column_name="service_id", on_delete="CASCADE", lazy_load=False
    )
    interface = peewee.CharField(max_length=16)
    region = peewee.CharField()
    url = peewee.CharField(max_length=1024)
    enabled = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()


class TokenRevocation(BaseModel):
    id = peewee.AutoField()
    audit_id = peewee.CharField(null=True, max_length=64)
    user_id = peewee.CharField(null=True, max_length=36)
    project_id = peewee.CharField(null=True, max_length=36)
    issued_before = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()
