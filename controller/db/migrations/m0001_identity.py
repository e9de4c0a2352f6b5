"""Identity: users, projects, roles, assignments, the catalog, token revocations."""


def upgrade(m):
    m.sql(
        """CREATE TABLE project (
            id VARCHAR(36) PRIMARY KEY,
            name VARCHAR(255) NOT NULL UNIQUE,
            description TEXT NOT NULL,
            enabled BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        """CREATE TABLE user_account (
            id VARCHAR(36) PRIMARY KEY,
            name VARCHAR(255) NOT NULL UNIQUE,
            email VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            enabled BOOLEAN NOT NULL,
            default_project_id VARCHAR(36) REFERENCES project (id) ON DELETE SET NULL,
            password_hash VARCHAR(255) NOT NULL,
            password_changed_at {timestamp} NOT NULL,
            failed_auth_count INTEGER NOT NULL,
            locked_until {timestamp},
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        """CREATE TABLE role (
            id VARCHAR(36) PRIMARY KEY,
            name VARCHAR(255) NOT NULL UNIQUE,
            description TEXT NOT NULL,
            created_at {timestamp} NOT NULL)""",
        """CREATE TABLE role_assignment (
            user_id VARCHAR(36) NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
            project_id VARCHAR(36) NOT NULL REFERENCES project (id) ON DELETE CASCADE,
            role_id VARCHAR(36) NOT NULL REFERENCES role (id) ON DELETE RESTRICT,
            created_at {timestamp} NOT NULL,
            PRIMARY KEY (user_id, project_id, role_id))""",
        "CREATE INDEX role_assignment_project ON role_assignment (project_id)",
        "CREATE INDEX role_assignment_role ON role_assignment (role_id)",
        """CREATE TABLE catalog_service (
            id VARCHAR(36) PRIMARY KEY,
            type VARCHAR(64) NOT NULL,
            name VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            enabled BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL)""",
        """CREATE TABLE catalog_endpoint (
            id VARCHAR(36) PRIMARY KEY,
            service_id VARCHAR(36) NOT NULL REFERENCES catalog_service (id) ON DELETE CASCADE,
            interface VARCHAR(16) NOT NULL,
            region VARCHAR(255) NOT NULL,
            url VARCHAR(1024) NOT NULL,
            enabled BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL,
            UNIQUE (service_id, interface, region))""",
        # Keystone's revocation events: a token matching an event and issued at or before
        # `issued_before` is revoked. Rows are dropped once every matching token has expired.
        """CREATE TABLE token_revocation (
            id {serial},
            audit_id VARCHAR(64),
            user_id VARCHAR(36),
            project_id VARCHAR(36),
            issued_before {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL)""",
        "CREATE INDEX token_revocation_audit ON token_revocation (audit_id)",
        "CREATE INDEX token_revocation_user ON token_revocation (user_id)",
        "CREATE INDEX token_revocation_project ON token_revocation (project_id)",
    )


def downgrade(m):
    for table in (
        "token_revocation",
        "catalog_endpoint",
        "catalog_service",
        "role_assignment",
        "role",
        "user_account",
        "project",
    ):
        m.sql(f"DROP TABLE {table}")
