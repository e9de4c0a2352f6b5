"""peewee model of the shared secrets (schema: controller/db/migrations/m0600_shared_secrets.py)."""

import peewee

from controller.db.database import BaseModel


class SharedSecretRow(BaseModel):
    # "fernet_keys" or "ca"
    name = peewee.CharField(primary_key=True, max_length=64)
    # The sealed value (Fernet token text): never plaintext.
    sealed = peewee.TextField()
    # Bumped on every change, so a replica learns of one with a primary-key lookup.
    revision = peewee.IntegerField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "shared_secret"
