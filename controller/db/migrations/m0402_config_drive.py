"""Servers say whether they boot with a config drive (Nova's `config_drive`); existing servers
booted without one."""


def upgrade(m):
    m.sql("ALTER TABLE instance ADD COLUMN config_drive BOOLEAN NOT NULL DEFAULT FALSE")


def downgrade(m):
    m.sql("ALTER TABLE instance DROP COLUMN config_drive")
