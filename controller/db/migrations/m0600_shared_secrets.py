"""Secrets every controller replica shares, sealed: the Fernet key set and the CA
(controller/shared_secrets, docs/adr/0013)."""


def upgrade(m):
    m.sql(
        """CREATE TABLE shared_secret (
            name VARCHAR(64) PRIMARY KEY,
            sealed TEXT NOT NULL,
            revision INTEGER NOT NULL,
            updated_at {timestamp} NOT NULL)"""
    )


def downgrade(m):
    m.sql("DROP TABLE shared_secret")
