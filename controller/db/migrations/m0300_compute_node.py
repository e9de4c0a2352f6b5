"""Compute nodes as their agents report them, and the conductor's outbox of node commands."""


def upgrade(m):
    m.sql(
        # One row per compute host, keyed by the verified certificate host name. Resources
        # are what the hypervisor reports; ratios and reserved memory NULL mean "use the
        # scheduler's defaults". `enabled`/`disabled_reason`/`forced_down` belong to the
        # operator (compute services API); every other column is the conductor's.
        """CREATE TABLE compute_node (
            id VARCHAR(36) PRIMARY KEY,
            host VARCHAR(253) NOT NULL UNIQUE,
            hypervisor_type VARCHAR(64) NOT NULL,
            hypervisor_version VARCHAR(64) NOT NULL,
            domain_type VARCHAR(16) NOT NULL,
            cpu_arch VARCHAR(32) NOT NULL,
            cpu_model VARCHAR(255) NOT NULL,
            vcpus INTEGER NOT NULL,
            memory_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL,
            vcpus_used INTEGER NOT NULL,
            memory_mb_used INTEGER NOT NULL,
            free_memory_mb INTEGER,
            disk_gb_free INTEGER NOT NULL,
            running_instances INTEGER NOT NULL,
            availability_zone VARCHAR(255) NOT NULL,
            cpu_allocation_ratio REAL,
            ram_allocation_ratio REAL,
            disk_allocation_ratio REAL,
            memory_mb_reserved INTEGER,
            enabled BOOLEAN NOT NULL,
            disabled_reason VARCHAR(255),
            forced_down BOOLEAN NOT NULL,
            agent_version VARCHAR(64) NOT NULL,
            session_id VARCHAR(36),
            connected BOOLEAN NOT NULL,
            unknown_domains {json} NOT NULL,
            last_seen_at {timestamp},
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        # The outbox: written in the same transaction as the state change that needs it,
        # delivered in `seq` order per node, resent until the node's result arrives.
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
        "CREATE INDEX node_command_instance ON node_command (instance_id)",
        "CREATE INDEX node_command_expiry ON node_command (state, expires_at)",
    )


def downgrade(m):
    for table in ("node_command", "compute_node"):
        m.sql(f"DROP TABLE {table}")
