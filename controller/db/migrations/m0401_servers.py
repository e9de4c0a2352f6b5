"""Servers (instances), the revision counter WatchServers follows, and allocations.

The instance row is shared: the API writes the request columns and vm_state/task_state for
user actions; the conductor writes what nodes report (power_state, addresses, launched_at)
and the outcome of builds and actions, through controller/compute/records/lifecycle.py, which
bumps the revision in the same transaction.
"""


def upgrade(m):
    m.sql(
        """CREATE TABLE instance (
            id VARCHAR(36) PRIMARY KEY,
            project_id VARCHAR(36) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            name VARCHAR(255) NOT NULL,
            request_id VARCHAR(128),
            flavor_id VARCHAR(255) NOT NULL,
            flavor_name VARCHAR(255) NOT NULL,
            vcpus INTEGER NOT NULL,
            ram_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL,
            ephemeral_gb INTEGER NOT NULL,
            swap_mb INTEGER NOT NULL,
            extra_specs {json} NOT NULL,
            image_id VARCHAR(36) NOT NULL,
            image_properties {json} NOT NULL,
            key_name VARCHAR(255) NOT NULL,
            key_data TEXT NOT NULL,
            availability_zone VARCHAR(255) NOT NULL,
            server_group_id VARCHAR(36),
            metadata {json} NOT NULL,
            user_data {blob},
            vm_state VARCHAR(32) NOT NULL,
            task_state VARCHAR(32),
            power_state VARCHAR(32) NOT NULL,
            host VARCHAR(255),
            node_id VARCHAR(36),
            attempts INTEGER NOT NULL,
            fault_code INTEGER,
            fault_message VARCHAR(255),
            fault_time {timestamp},
            addresses {json} NOT NULL,
            revision BIGINT NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL,
            launched_at {timestamp},
            deleted_at {timestamp})""",
        "CREATE UNIQUE INDEX instance_request ON instance (project_id, request_id)",
        "CREATE INDEX instance_project ON instance (project_id, created_at)",
        "CREATE INDEX instance_revision ON instance (revision)",
        "CREATE INDEX instance_host ON instance (host)",
        """CREATE TABLE revision_counter (
            name VARCHAR(64) PRIMARY KEY,
            value BIGINT NOT NULL)""",
        "INSERT INTO revision_counter (name, value) VALUES ('instance', 0)",
        """CREATE TABLE allocation (
            instance_id VARCHAR(36) PRIMARY KEY,
            node_id VARCHAR(36) NOT NULL,
            project_id VARCHAR(36) NOT NULL,
            vcpus INTEGER NOT NULL,
            memory_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL,
            created_at {timestamp} NOT NULL)""",
        "CREATE INDEX allocation_node ON allocation (node_id)",
    )


def downgrade(m):
    for table in ("allocation", "revision_counter", "instance"):
        m.sql(f"DROP TABLE {table}")
