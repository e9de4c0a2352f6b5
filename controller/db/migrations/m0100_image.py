"""Image registry: images, their tags and properties, and the projects they are shared with.

`owner` and `member_id` are project ids without foreign keys, as in Glance: images outlive
the projects that made them until an operator removes them.
"""


def upgrade(m):
    m.sql(
        """CREATE TABLE image (
            id VARCHAR(36) PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            owner VARCHAR(36) NOT NULL,
            status VARCHAR(16) NOT NULL,
            visibility VARCHAR(16) NOT NULL,
            protected BOOLEAN NOT NULL,
            disk_format VARCHAR(16),
            container_format VARCHAR(16),
            min_disk INTEGER NOT NULL,
            min_ram INTEGER NOT NULL,
            size BIGINT NOT NULL,
            virtual_size BIGINT,
            checksum VARCHAR(32),
            os_hash_algo VARCHAR(64),
            os_hash_value VARCHAR(128),
            location TEXT,
            request_id VARCHAR(64),
            upload_id VARCHAR(36),
            upload_heartbeat_at {timestamp},
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL,
            deleted_at {timestamp},
            UNIQUE (owner, request_id))""",
        "CREATE INDEX image_owner ON image (owner, status)",
        "CREATE INDEX image_visibility ON image (visibility, status)",
        "CREATE INDEX image_created ON image (created_at, id)",
        """CREATE TABLE image_tag (
            image_id VARCHAR(36) NOT NULL REFERENCES image (id) ON DELETE CASCADE,
            tag VARCHAR(255) NOT NULL,
            PRIMARY KEY (image_id, tag))""",
        "CREATE INDEX image_tag_tag ON image_tag (tag)",
        """CREATE TABLE image_property (
            image_id VARCHAR(36) NOT NULL REFERENCES image (id) ON DELETE CASCADE,
            name VARCHAR(255) NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (image_id, name))""",
        """CREATE TABLE image_member (
            image_id VARCHAR(36) NOT NULL REFERENCES image (id) ON DELETE CASCADE,
            member_id VARCHAR(36) NOT NULL,
            status VARCHAR(16) NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL,
            PRIMARY KEY (image_id, member_id))""",
        "CREATE INDEX image_member_member ON image_member (member_id, status)",
    )


def downgrade(m):
    for table in ("image_member", "image_property", "image_tag", "image"):
        m.sql(f"DROP TABLE {table}")
