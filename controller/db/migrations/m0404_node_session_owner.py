"""The controller process that holds a node's session (controller/compute/conductor/
replica.py), so a second session for a live node is refused on every replica and a session
whose replica is known to have ended can be replaced at once."""


def upgrade(m):
    m.sql("ALTER TABLE compute_node ADD COLUMN session_owner VARCHAR(128)")


def downgrade(m):
    m.sql("ALTER TABLE compute_node DROP COLUMN session_owner")
