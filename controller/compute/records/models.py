"""peewee models of the tables the compute API, the scheduler and the conductor share
(schema: controller/db/migrations/m03xx_*.py and m04xx_*.py). Each area's own tables stay in
its own models.py."""

import peewee

from controller.db.database import BaseModel
from controller.db.fields import BlobField, JSONField, JSONValueField


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
    # Nova's lock: a locked server refuses actions from anyone but admins
    locked = peewee.BooleanField(default=False)
    locked_by = peewee.CharField(max_length=16, null=True)  # "owner" or "admin"
    locked_reason = peewee.CharField(null=True)
    # the image a shelved server's disk was saved into (its boot image at unshelve)
    shelved_image_id = peewee.CharField(max_length=36, null=True)
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


class HostCleanup(BaseModel):
    """A guest its host must destroy when it comes back (records/host_cleanup.py)."""

    instance_id = peewee.CharField(max_length=36)
    node_id = peewee.CharField(max_length=36)
    reason = peewee.CharField(max_length=32)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "host_cleanup"
        primary_key = peewee.CompositeKey("instance_id", "node_id")


class Migration(BaseModel):
    """A resize of a server (records/migrations.py)."""

    id = peewee.CharField(primary_key=True, max_length=36)
    instance_id = peewee.CharField(max_length=36)
    kind = peewee.CharField(max_length=16)
    status = peewee.CharField(max_length=32)
    source_node_id = peewee.CharField(max_length=36)
    dest_node_id = peewee.CharField(max_length=36, null=True)
    old_flavor = JSONField(default=dict)
    new_flavor = JSONField(default=dict)
    prior_vm_state = peewee.CharField(max_length=32)
    transfer_image_id = peewee.CharField(max_length=36, null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "migration"


class RevisionCounter(BaseModel):
    name = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.BigIntegerField()


class Allocation(BaseModel):
    instance_id = peewee.CharField(primary_key=True, max_length=36)
    node_id = peewee.CharField(max_length=36, index=True)
    project_id = peewee.CharField(max_length=36)
    vcpus = peewee.IntegerField()
    memory_mb = peewee.IntegerField()
    disk_gb = peewee.IntegerField()
    created_at = peewee.DateTimeField()


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
    # the controller process holding that session (conductor/replica.py)
    session_owner = peewee.CharField(max_length=128, null=True)
    connected = peewee.BooleanField(default=False)
    # domains the node runs that the database does not know: [{"uuid", "name", ...}]
    unknown_domains = JSONValueField(null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "compute_node"
