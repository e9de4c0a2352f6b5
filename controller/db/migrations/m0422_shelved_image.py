"""A shelved server remembers the image its disk was saved into, to boot from at unshelve."""


def upgrade(m):
    m.sql("ALTER TABLE instance ADD COLUMN shelved_image_id VARCHAR(36)")


def downgrade(m):
    m.sql("ALTER TABLE instance DROP COLUMN shelved_image_id")
