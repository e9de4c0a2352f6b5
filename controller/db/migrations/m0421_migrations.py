"""Migrations (Nova's): one row per resize of a server, with the flavors before and after,
the hosts it leaves and goes to, and where it stands. While a resize waits for its confirm,
the server's old allocation is held under the migration's id (Nova's migration consumer)."""


def upgrade(m):
    m.sql(
        """CREATE TABLE migration (
            id VARCHAR(36) PRIMARY KEY,
            instance_id VARCHAR(36) NOT NULL,
            kind VARCHAR(16) NOT NULL,
            status VARCHAR(32) NOT NULL,
            source_node_id VARCHAR(36) NOT NULL,
            dest_node_id VARCHAR(36),
            old_flavor {json} NOT NULL,
            new_flavor {json} NOT NULL,
            prior_vm_state VARCHAR(32) NOT NULL,
            transfer_image_id VARCHAR(36),
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "CREATE INDEX migration_instance ON migration (instance_id)",
        "CREATE INDEX migration_status ON migration (status)",
    )


def downgrade(m):
    m.sql("DROP TABLE migration")
