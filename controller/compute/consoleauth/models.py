"""The console token table (schema: controller/db/migrations/m0410_console_tokens.py)."""

import peewee

from controller.db.database import BaseModel


class ConsoleToken(BaseModel):
    token_hash = peewee.CharField(primary_key=True, max_length=64)
    instance_id = peewee.CharField(max_length=36)
    host = peewee.CharField()
    console_type = peewee.CharField(max_length=16)
    user_id = peewee.CharField(max_length=36)
    project_id = peewee.CharField(max_length=36)
    created_at = peewee.DateTimeField()
    expires_at = peewee.DateTimeField()
    used_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "console_token"
