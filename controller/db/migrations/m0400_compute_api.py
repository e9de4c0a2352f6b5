"""Compute API: flavors and their access lists, key pairs, server groups, per-project quota
limits, instance actions and their events, and the scheduler's allocations."""


def upgrade(m):
    m.sql(
        """CREATE TABLE flavor (
            id VARCHAR(255) PRIMARY KEY,
            name VARCHAR(255) NOT NULL UNIQUE,
            vcpus INTEGER NOT NULL,
            ram_mb INTEGER NOT NULL,
            disk_gb INTEGER NOT NULL,
            ephemeral_gb INTEGER NOT NULL,
            swap_mb INTEGER NOT NULL,
            is_public BOOLEAN NOT NULL,
            description TEXT NOT NULL,
            extra_specs {json} NOT NULL,
            created_at {timestamp} NOT NULL)""",
        """CREATE TABLE flavor_access (
            flavor_id VARCHAR(255) NOT NULL REFERENCES flavor (id) ON DELETE CASCADE,
            project_id VARCHAR(36) NOT NULL REFERENCES project (id) ON DELETE CASCADE,
            PRIMARY KEY (flavor_id, project_id))""",
        "CREATE INDEX flavor_access_project ON flavor_access (project_id)",
        """CREATE TABLE key_pair (
            user_id VARCHAR(36) NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
            name VARCHAR(255) NOT NULL,
            public_key TEXT NOT NULL,
            fingerprint VARCHAR(128) NOT NULL,
            created_at {timestamp} NOT NULL,
            PRIMARY KEY (user_id, name))""",
        """CREATE TABLE server_group (
            id VARCHAR(36) PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            project_id VARCHAR(36) NOT NULL REFERENCES project (id) ON DELETE CASCADE,
            user_id VARCHAR(36) NOT NULL,
            policy VARCHAR(32) NOT NULL,
            max_server_per_host INTEGER NOT NULL,
            created_at {timestamp} NOT NULL)""",
        "CREATE INDEX server_group_project ON server_group (project_id, created_at)",
        """CREATE TABLE server_group_member (
            group_id VARCHAR(36) NOT NULL REFERENCES server_group (id) ON DELETE CASCADE,
            instance_id VARCHAR(36) NOT NULL UNIQUE,
            PRIMARY KEY (group_id, instance_id))""",
        """CREATE TABLE quota_limit (
            project_id VARCHAR(36) NOT NULL REFERENCES project (id) ON DELETE CASCADE,
            resource VARCHAR(64) NOT NULL,
            hard_limit BIGINT NOT NULL,
            PRIMARY KEY (project_id, resource))""",
        """CREATE TABLE instance_action (
            id {serial},
            instance_id VARCHAR(36) NOT NULL,
            action VARCHAR(32) NOT NULL,
            request_id VARCHAR(128) NOT NULL,
            user_id VARCHAR(36) NOT NULL,
            project_id VARCHAR(36) NOT NULL,
            start_time {timestamp} NOT NULL,
            finish_time {timestamp},
            result VARCHAR(16) NOT NULL,
            message VARCHAR(255) NOT NULL)""",
        "CREATE INDEX instance_action_instance ON instance_action (instance_id, start_time)",
        """CREATE TABLE instance_action_event (
            id {serial},
            action_id BIGINT NOT NULL REFERENCES instance_action (id) ON DELETE CASCADE,
            event VARCHAR(64) NOT NULL,
            host VARCHAR(255) NOT NULL,
            start_time {timestamp} NOT NULL,
            finish_time {timestamp},
            result VARCHAR(16) NOT NULL)""",
        "CREATE INDEX instance_action_event_action ON instance_action_event (action_id)",
    )


def downgrade(m):
    for table in (
        "instance_action_event",
        "instance_action",
        "quota_limit",
        "server_group_member",
        "server_group",
        "key_pair",
        "flavor_access",
        "flavor",
    ):
        m.sql(f"DROP TABLE {table}")
