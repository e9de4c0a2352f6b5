"""Default policy rules of the network API (overridable in the policy file). Tenant isolation
is also in the queries (access.py): another project's resources are NOT_FOUND whatever a
policy file says; admin-only attributes (provider networks, shared, external) are checked by
the domain."""

from controller.auth.policy import RuleDefault

ADMIN = "rule:admin_required"
MEMBER = "rule:project_member"
READER = "rule:project_reader"

_RULES = {
    "create_network": MEMBER,
    "get_network": READER,
    "list_networks": READER,
    "update_network": MEMBER,
    "delete_network": MEMBER,
    "create_subnet": MEMBER,
    "get_subnet": READER,
    "list_subnets": READER,
    "update_subnet": MEMBER,
    "delete_subnet": MEMBER,
    "create_port": MEMBER,
    "get_port": READER,
    "list_ports": READER,
    "update_port": MEMBER,
    "delete_port": MEMBER,
    "create_security_group": MEMBER,
    "get_security_group": READER,
    "list_security_groups": READER,
    "update_security_group": MEMBER,
    "delete_security_group": MEMBER,
    "create_security_group_rule": MEMBER,
    "get_security_group_rule": READER,
    "list_security_group_rules": READER,
    "delete_security_group_rule": MEMBER,
    "get_quotas": f"{ADMIN} or {READER}",
    "update_quotas": ADMIN,
}

RULES = [RuleDefault(f"network:{name}", check) for name, check in _RULES.items()]
