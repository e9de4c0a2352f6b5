"""The scheduler's table: one allocation per placed server (schema: m0401_servers.py)."""
import peewee

from controller.db.database import BaseModel


class Allocation(BaseModel):
    instance_id = peewee.CharField(primary_key=True, max_length=36)
    node_id = peewee.CharField(max_length=36, index=True)
    project_id = peewee.CharField(max_length=36)
    vcpus = peewee.IntegerField()
    memory_mb = peewee.IntegerField()
    disk_gb = peewee.IntegerField()
    created_at = peewee.DateTimeField()

