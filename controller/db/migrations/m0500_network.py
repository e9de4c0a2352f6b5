"""Networking (controller/network/): networks, subnets, ports and their addresses, security
groups and rules, per-project limits, and what each compute node said of its network side.

`ip_allocation`'s primary key (subnet, address) is what makes IPAM safe whatever happens
above it: two transactions can never both commit one address. The network area's change
counter is a row of `revision_counter`: every change a node may care about takes its next
value, and nodes get their NetworkState again when it moves.
"""


def upgrade(m):
    m.sql(
        """CREATE TABLE network (
            id VARCHAR(36) PRIMARY KEY,
            project_id VARCHAR(36) NOT NULL,
            name VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            network_type VARCHAR(16) NOT NULL,
            physical_network VARCHAR(64) NOT NULL,
            segmentation_id INTEGER NOT NULL,
            mtu INTEGER NOT NULL,
            shared BOOLEAN NOT NULL,
            external BOOLEAN NOT NULL,
            admin_state_up BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        # One flat network per physical network, one VLAN id per physical network, one VNI.
        """CREATE UNIQUE INDEX network_segment
            ON network (network_type, physical_network, segmentation_id)""",
        "CREATE INDEX network_project ON network (project_id, name)",
        """CREATE TABLE subnet (
            id VARCHAR(36) PRIMARY KEY,
            network_id VARCHAR(36) NOT NULL REFERENCES network (id),
            project_id VARCHAR(36) NOT NULL,
            name VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            ip_version INTEGER NOT NULL,
            cidr VARCHAR(64) NOT NULL,
            gateway_ip VARCHAR(64),
            allocation_pools {json} NOT NULL,
            dns_nameservers {json} NOT NULL,
            host_routes {json} NOT NULL,
            enable_dhcp BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "CREATE INDEX subnet_network ON subnet (network_id)",
        """CREATE TABLE port (
            id VARCHAR(36) PRIMARY KEY,
            network_id VARCHAR(36) NOT NULL REFERENCES network (id),
            project_id VARCHAR(36) NOT NULL,
            name VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            mac_address VARCHAR(17) NOT NULL,
            device_id VARCHAR(64) NOT NULL,
            device_owner VARCHAR(64) NOT NULL,
            device_index INTEGER NOT NULL,
            delete_with_device BOOLEAN NOT NULL,
            port_security_enabled BOOLEAN NOT NULL,
            allowed_address_pairs {json} NOT NULL,
            binding_host VARCHAR(255) NOT NULL,
            binding_node_id VARCHAR(36),
            status VARCHAR(16) NOT NULL,
            admin_state_up BOOLEAN NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "CREATE UNIQUE INDEX port_mac ON port (network_id, mac_address)",
        "CREATE INDEX port_device ON port (device_id)",
        "CREATE INDEX port_node ON port (binding_node_id)",
        "CREATE INDEX port_project ON port (project_id, created_at)",
        """CREATE TABLE ip_allocation (
            subnet_id VARCHAR(36) NOT NULL REFERENCES subnet (id),
            ip_address VARCHAR(64) NOT NULL,
            port_id VARCHAR(36) NOT NULL REFERENCES port (id) ON DELETE CASCADE,
            network_id VARCHAR(36) NOT NULL,
            PRIMARY KEY (subnet_id, ip_address))""",
        "CREATE INDEX ip_allocation_port ON ip_allocation (port_id)",
        """CREATE TABLE security_group (
            id VARCHAR(36) PRIMARY KEY,
            project_id VARCHAR(36) NOT NULL,
            name VARCHAR(255) NOT NULL,
            description TEXT NOT NULL,
            created_at {timestamp} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "CREATE INDEX security_group_project ON security_group (project_id, name)",
        # One `default` group per project, whoever makes it first (Neutron's table of the name).
        """CREATE TABLE default_security_group (
            project_id VARCHAR(36) PRIMARY KEY,
            security_group_id VARCHAR(36) NOT NULL
                REFERENCES security_group (id) ON DELETE CASCADE)""",
        """CREATE TABLE security_group_rule (
            id VARCHAR(36) PRIMARY KEY,
            security_group_id VARCHAR(36) NOT NULL
                REFERENCES security_group (id) ON DELETE CASCADE,
            project_id VARCHAR(36) NOT NULL,
            direction VARCHAR(8) NOT NULL,
            ethertype VARCHAR(4) NOT NULL,
            protocol VARCHAR(8) NOT NULL,
            port_range_min INTEGER,
            port_range_max INTEGER,
            remote_ip_prefix VARCHAR(64) NOT NULL,
            remote_group_id VARCHAR(36) NOT NULL,
            description TEXT NOT NULL,
            created_at {timestamp} NOT NULL)""",
        "CREATE INDEX security_group_rule_group ON security_group_rule (security_group_id)",
        """CREATE TABLE port_security_group (
            port_id VARCHAR(36) NOT NULL REFERENCES port (id) ON DELETE CASCADE,
            security_group_id VARCHAR(36) NOT NULL REFERENCES security_group (id),
            PRIMARY KEY (port_id, security_group_id))""",
        "CREATE INDEX port_security_group_group ON port_security_group (security_group_id)",
        """CREATE TABLE network_quota (
            project_id VARCHAR(36) NOT NULL,
            resource VARCHAR(32) NOT NULL,
            hard_limit INTEGER NOT NULL,
            PRIMARY KEY (project_id, resource))""",
        """CREATE TABLE network_node (
            node_id VARCHAR(36) PRIMARY KEY,
            tunnel_ip VARCHAR(64) NOT NULL,
            physical_networks {json} NOT NULL,
            updated_at {timestamp} NOT NULL)""",
        "INSERT INTO revision_counter (name, value) VALUES ('network', 0)",
    )


def downgrade(m):
    m.sql(
        "DELETE FROM revision_counter WHERE name = 'network'",
        "DROP TABLE network_node",
        "DROP TABLE network_quota",
        "DROP TABLE port_security_group",
        "DROP TABLE security_group_rule",
        "DROP TABLE default_security_group",
        "DROP TABLE security_group",
        "DROP TABLE ip_allocation",
        "DROP TABLE port",
        "DROP TABLE subnet",
        "DROP TABLE network",
    )
