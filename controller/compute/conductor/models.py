"""peewee models of the conductor's tables (schema: controller/db/migrations/m0300_*.py,
m0403_*.py)."""
import json

import peewee

from controller.compute.api.models import BlobField
from controller.db.database import BaseModel


class JSONField(peewee.TextField):
    """Any JSON value; None stays NULL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class ComputeNode(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    hostname = peewee.CharField(unique=True)
    availability_zone = peewee.CharField(default="nova")
    enabled = peewee.BooleanField(default=True)
    disabled_reason = peewee.CharField(default="")
    heartbeat_at = peewee.DateTimeField(null=True)
    vcpus = peewee.IntegerField()
    memory_mb = peewee.BigIntegerField()
    memory_mb_reserved = peewee.BigIntegerField(default=0)
    disk_gb = peewee.BigIntegerField()
    cpu_allocation_ratio = peewee.FloatField(null=True)
    ram_allocation_ratio = peewee.FloatField(null=True)
    disk_allocation_ratio = peewee.FloatField(null=True)
    architecture = peewee.CharField(max_length=32)
    hypervisor_type = peewee.CharField(max_length=64)
    hypervisor_version = peewee.CharField(max_length=64)
    host_ip = peewee.CharField(max_length=64, default="")
    domain_type = peewee.CharField(max_length=16, default="")
    cpu_model = peewee.CharField(default="")
    vcpus_used = peewee.IntegerField(default=0)
    memory_mb_used = peewee.BigIntegerField(default=0)
    free_memory_mb = peewee.BigIntegerField(null=True)
    disk_gb_free = peewee.BigIntegerField(default=0)
    running_instances = peewee.IntegerField(default=0)
    forced_down = peewee.BooleanField(default=False)
    agent_version = peewee.CharField(max_length=64, default="")
    session_id = peewee.CharField(max_length=36, null=True)
    connected = peewee.BooleanField(default=False)
    # domains the node runs that the database does not know: [{"uuid", "name", ...}]
    unknown_domains = JSONField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "compute_node"


class NodeCommand(BaseModel):
    seq = peewee.AutoField()
    id = peewee.CharField(max_length=36, unique=True)
    node_id = peewee.CharField(max_length=36)
    instance_id = peewee.CharField(max_length=36, null=True)
    kind = peewee.CharField(max_length=32)
    # the Command message less its ids, serialized (commands.py)
    body = BlobField()
    request_id = peewee.CharField(max_length=128)
    state = peewee.CharField(max_length=16)
    deliveries = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField()
    delivered_at = peewee.DateTimeField(null=True)
    expires_at = peewee.DateTimeField()
    completed_at = peewee.DateTimeField(null=True)
    result = JSONField(null=True)
    error_code = peewee.CharField(max_length=64, null=True)
    error_message = peewee.CharField(null=True)

    class Meta:
        table_name = "node_command"
