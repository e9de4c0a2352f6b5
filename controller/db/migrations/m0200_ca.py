"""Certificate authority: one-time enrollment tokens (hashed) and issued certificates."""


def upgrade(m):
    m.sql(
        # Only the SHA-256 of a token's secret is stored (see controller/ca/tokens.py).
        """CREATE TABLE enrollment_token (
            id VARCHAR(36) PRIMARY KEY,
            token_hash VARCHAR(64) NOT NULL UNIQUE,
            host_name VARCHAR(253) NOT NULL,
            created_at {timestamp} NOT NULL,
            expires_at {timestamp} NOT NULL,
            used_at {timestamp},
            created_by VARCHAR(36))""",
        # serial: lower-case hex of a random 128-bit serial number, too wide for BIGINT.
        """CREATE TABLE certificate (
            serial VARCHAR(40) PRIMARY KEY,
            kind VARCHAR(16) NOT NULL,
            host_name VARCHAR(253) NOT NULL,
            subject TEXT NOT NULL,
            fingerprint_sha256 VARCHAR(95) NOT NULL,
            not_before {timestamp} NOT NULL,
            not_after {timestamp} NOT NULL,
            certificate_pem TEXT NOT NULL,
            created_at {timestamp} NOT NULL,
            revoked_at {timestamp},
            revocation_reason TEXT,
            renewed_from VARCHAR(40))""",
        "CREATE INDEX certificate_created ON certificate (created_at, serial)",
        "CREATE INDEX certificate_host ON certificate (host_name)",
        "CREATE INDEX certificate_revoked ON certificate (revoked_at)",
    )


def downgrade(m):
    for table in ("certificate", "enrollment_token"):
        m.sql(f"DROP TABLE {table}")
