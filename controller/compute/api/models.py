"""peewee models of the compute API's tables (schema: controller/db/migrations/m04xx_*.py)."""
import json

import peewee

from controller.db.database import BaseModel


class JSONField(peewee.TextField):
    """A dict stored as JSON text, the same on every engine."""

    def db_value(self, value):
        return json.dumps(value or {}, sort_keys=True)

    def python_value(self, value):
        return json.loads(value) if value else {}


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


class ServerGroup(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField()
    project_id = peewee.CharField(max_length=36)
    user_id = peewee.CharField(max_length=36)
    policy = peewee.CharField(max_length=32)
    max_server_per_host = peewee.IntegerField(default=1)
    created_at = peewee.DateTimeField()


class ServerGroupMember(BaseModel):
    group_id = peewee.CharField(max_length=36)
    instance_id = peewee.CharField(max_length=36, unique=True)

    class Meta:
        primary_key = peewee.CompositeKey("group_id", "instance_id")


class QuotaLimit(BaseModel):
    project_id = peewee.CharField(max_length=36)
    resource = peewee.CharField(max_length=64)
    hard_limit = peewee.BigIntegerField()

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "resource")


class InstanceAction(BaseModel):
    id = peewee.AutoField()
    instance_id = peewee.CharField(max_length=36)
    action = peewee.CharField(max_length=32)
    request_id = peewee.CharField(max_length=128)
    user_id = peewee.CharField(max_length=36)
    project_id = peewee.CharField(max_length=36)
    start_time = peewee.DateTimeField()
    finish_time = peewee.DateTimeField(null=True)
    result = peewee.CharField(max_length=16)
    message = peewee.CharField(default="")


class InstanceActionEvent(BaseModel):
    id = peewee.AutoField()
    action_id = peewee.BigIntegerField()
    event = peewee.CharField(max_length=64)
    host = peewee.CharField(default="")
    start_time = peewee.DateTimeField()
    finish_time = peewee.DateTimeField(null=True)
    result = peewee.CharField(max_length=16)


class BlobField(peewee.BlobField):
    def python_value(self, value):
        return bytes(value) if value is not None else b""


class Instance(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    project_id = peewee.CharField(max_length=36)
    user_id = peewee.CharField(max_length=36)
    name = peewee.CharField()
    request_id = peewee.CharField(max_length=128, null=True)
    flavor_id = peewee.CharField()
    flavor_name = peewee.CharField()
    vcpus = peewee.IntegerField()
    ram_mb = peewee.IntegerField()
    disk_gb = peewee.IntegerField()
    ephemeral_gb = peewee.IntegerField()
    swap_mb = peewee.IntegerField()
    extra_specs = JSONField(default=dict)
    image_id = peewee.CharField(max_length=36)
    # what placement needs of the image: architecture, hypervisor_type, min_ram_mb, min_disk_gb
    image_properties = JSONField(default=dict)
    key_name = peewee.CharField(default="")
    key_data = peewee.TextField(default="")
    availability_zone = peewee.CharField(default="")
    server_group_id = peewee.CharField(max_length=36, null=True)
    metadata = JSONField(default=dict)
    user_data = BlobField(null=True)
    config_drive = peewee.BooleanField(default=False)
    vm_state = peewee.CharField(max_length=32)
    task_state = peewee.CharField(max_length=32, null=True)
    power_state = peewee.CharField(max_length=32)
    host = peewee.CharField(null=True)
    node_id = peewee.CharField(max_length=36, null=True)
    attempts = peewee.IntegerField(default=0)
    fault_code = peewee.IntegerField(null=True)
    fault_message = peewee.CharField(null=True)
    fault_time = peewee.DateTimeField(null=True)
    addresses = JSONField(default=dict)
    revision = peewee.BigIntegerField()
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()
    launched_at = peewee.DateTimeField(null=True)
    deleted_at = peewee.DateTimeField(null=True)


class RevisionCounter(BaseModel):
    name = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.BigIntegerField()
