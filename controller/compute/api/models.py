"""peewee models of the compute API's own tables (schema: controller/db/migrations/m04xx_*.py);
the tables it shares with the scheduler and the conductor are in records/models.py."""

import peewee

from controller.db.database import BaseModel
from controller.db.fields import JSONField


class Flavor(BaseModel):
    id = peewee.CharField(primary_key=True)
    name = peewee.CharField(unique=True)
    vcpus = peewee.IntegerField()
    ram_mb = peewee.IntegerField()
    disk_gb = peewee.IntegerField()
    ephemeral_gb = peewee.IntegerField(default=0)
    swap_mb = peewee.IntegerField(default=0)
    is_public = peewee.BooleanField(default=True)
    description = peewee.TextField(default="")
    extra_specs = JSONField(default=dict)
    created_at = peewee.DateTimeField()


class FlavorAccess(BaseModel):
    flavor_id = peewee.CharField()
    project_id = peewee.CharField(max_length=36)

    class Meta:
        primary_key = peewee.CompositeKey("flavor_id", "project_id")


class KeyPair(BaseModel):
    user_id = peewee.CharField(max_length=36)
    name = peewee.CharField()
    public_key = peewee.TextField()
    fingerprint = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField()

    class Meta:
        primary_key = peewee.CompositeKey("user_id", "name")


class QuotaLimit(BaseModel):
    project_id = peewee.CharField(max_length=36)
    resource = peewee.CharField(max_length=64)
    hard_limit = peewee.BigIntegerField()

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "resource")
