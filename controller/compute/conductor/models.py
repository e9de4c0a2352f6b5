"""peewee models of the conductor's own table, the outbox (schema:
controller/db/migrations/m0300_*.py, m0403_*.py); compute nodes are in records/models.py."""

import peewee

from controller.db.database import BaseModel
from controller.db.fields import BlobField, JSONValueField


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
    result = JSONValueField(null=True)
    error_code = peewee.CharField(max_length=64, null=True)
    error_message = peewee.CharField(null=True)

    class Meta:
        table_name = "node_command"
