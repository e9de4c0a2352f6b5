"""Compute nodes as their agents report them, and the conductor's outbox of node commands.

compute_node is the conductor's table; the scheduler and the compute API read it (their
models map the columns they need) and the API writes only the operator's columns: enabled,
disabled_reason, forced_down and the allocation ratios. Columns only the conductor uses have
SQL defaults, so a row made with the scheduler's model is complete.
"""


def upgrade(m):
    m.sql(
        """CREATE TABLE compute_node (
            id VARCHAR(36) PRIMARY KEY,
            hostname VARCHAR(255) NOT NULL UNIQUE,
            availability_zone VARCHAR(255) NOT NULL,
            enabled BOOLEAN NOT NULL,
            disabled_reason VARCHAR(255) NOT NULL,
            heartbeat_at {timestamp},
            vcpus INTEGER NOT NULL,
            memory_mb BIGINT NOT NULL,
            memory_mb_reserved BIGINT NOT NULL,
            disk_gb BIGINT NOT NULL,
            cpu_allocation_ratio REAL,
            ram_allocation_ratio REAL,
            disk_allocation_ratio REAL,
            architecture VARCHAR(32) NOT NULL,
            hypervisor_type VARCHAR(64) NOT NULL,
            hypervisor_version VARCHAR(64) NOT NULL,
            host_ip VARCHAR(64) NOT NULL,
            domain_type VARCHAR(16) NOT NULL DEFAULT '',
            cpu_model VARCHAR(255) NOT NULL DEFAULT '',
            vcpus_used INTEGER NOT NULL DEFAULT 0,
            memory_mb_used BIGINT NOT NULL DEFAULT 0,
            free_memory_mb BIGINT,
            disk_gb_free BIGINT NOT NULL DEFAULT 0,
            running_instances INTEGER NOT NULL DEFAULT 0,
            forced_down BOOLEAN NOT NULL DEFAULT FALSE,
            agent_version VARCHAR(64) NOT NULL DEFAULT '',
            session_id VARCHAR(36),
            connected BOOLEAN NOT NULL DEFAULT FALSE,
            unknown_domains TEXT,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "CREATE INDEX compute_node_zone ON compute_node (availability_zone)",
        # The outbox: written in the same transaction as the state change that needs it,
        # delivered in `seq` order per node, sent again until the node's result arrives.
        """CREATE TABLE node_command (
            seq {serial},
            id VARCHAR(36) NOT NULL UNIQUE,
            node_id VARCHAR(36) NOT NULL,
            instance_id VARCHAR(36),
            kind VARCHAR(32) NOT NULL,
            payload {json} NOT NULL,
            request_id VARCHAR(128) NOT NULL,
            state VARCHAR(16) NOT NULL,
            deliveries INTEGER NOT NULL,
            created_at {timestamp} NOT NULL,
            delivered_at {timestamp},
            expires_at {timestamp} NOT NULL,
            completed_at {timestamp},
            result {json},
            error_code VARCHAR(64),
            error_message VARCHAR(255))""",
        "CREATE INDEX node_command_node_state ON node_command (node_id, state, seq)",
        "CREATE INDEX node_command_instance ON node_command (instance_id, state)",
        "CREATE INDEX node_command_expiry ON node_command (state, expires_at)",
    )


def downgrade(m):
    for table in ("node_command", "compute_node"):
        m.sql(f"DROP TABLE {table}")
