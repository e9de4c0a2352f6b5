"""Servers can be locked (Nova's lock: who locked it, and why), and a host keeps a list of the
guests it must destroy when it comes back: servers deleted while it was down, and (later)
servers rebuilt elsewhere while it was down."""


def upgrade(m):
    m.sql(
        "ALTER TABLE instance ADD COLUMN locked BOOLEAN NOT NULL DEFAULT FALSE",
        "ALTER TABLE instance ADD COLUMN locked_by VARCHAR(16)",
        "ALTER TABLE instance ADD COLUMN locked_reason VARCHAR(255)",
        """CREATE TABLE host_cleanup (
            instance_id VARCHAR(36) NOT NULL,
            node_id VARCHAR(36) NOT NULL,
            reason VARCHAR(32) NOT NULL,
            created_at {timestamp} NOT NULL,
            PRIMARY KEY (instance_id, node_id))""",
        "CREATE INDEX host_cleanup_node ON host_cleanup (node_id)",
    )


def downgrade(m):
    m.sql(
        "DROP TABLE host_cleanup",
        "ALTER TABLE instance DROP COLUMN locked_reason",
        "ALTER TABLE instance DROP COLUMN locked_by",
        "ALTER TABLE instance DROP COLUMN locked",
    )
