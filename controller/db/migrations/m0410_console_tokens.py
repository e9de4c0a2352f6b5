"""One-time console tokens (controller/compute/consoleauth): only their SHA-256 is stored, with
what a token opens (instance, its host, console type) and who asked for it."""


def upgrade(m):
    m.sql(
        """CREATE TABLE console_token (
            token_hash VARCHAR(64) PRIMARY KEY,
            instance_id VARCHAR(36) NOT NULL,
            host VARCHAR(255) NOT NULL,
            console_type VARCHAR(16) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            project_id VARCHAR(36) NOT NULL,
            created_at {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL,
            used_at {timestamp}
        )"""
    )
    m.sql("CREATE INDEX console_token_expires ON console_token (expires_at)")


def downgrade(m):
    m.sql("DROP TABLE console_token")
