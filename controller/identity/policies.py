"""Default policy rules of the identity service (overridable in the policy file)."""

from controller.auth.policy import RuleDefault

BASE = [
    RuleDefault("admin_required", "role:admin", "The caller holds the admin role"),
    RuleDefault("owner", "user_id:%(user_id)s", "The caller is the user the request is about"),
    RuleDefault("admin_or_owner", "rule:admin_required or rule:owner"),
    RuleDefault(
        "project_member",
        "project_id:%(project_id)s and (role:member or role:admin)",
        "A member of the project the resource belongs to",
    ),
    RuleDefault(
        "project_reader",
        "project_id:%(project_id)s and (role:reader or role:member or role:admin)",
        "Any role on the project the resource belongs to",
    ),
    RuleDefault("authenticated", "@", "Any valid token"),
]

ADMIN = "rule:admin_required"

RULES = [
    *BASE,
    RuleDefault("identity:validate_token", "rule:admin_or_owner"),
    RuleDefault("identity:revoke_token", "rule:admin_or_owner"),
    RuleDefault("identity:get_catalog", "rule:authenticated"),
    RuleDefault("identity:create_user", ADMIN),
    RuleDefault("identity:get_user", "rule:admin_or_owner"),
    RuleDefault("identity:list_users", ADMIN),
    RuleDefault("identity:update_user", ADMIN),
    RuleDefault("identity:delete_user", ADMIN),
    RuleDefault("identity:change_password", "rule:owner"),
    RuleDefault("identity:create_project", ADMIN),
    RuleDefault("identity:get_project", "rule:admin_required or project_id:%(project_id)s"),
    RuleDefault("identity:list_projects", "rule:admin_required or user_id:%(user_id)s"),
    RuleDefault("identity:update_project", ADMIN),
    RuleDefault("identity:delete_project", ADMIN),
    RuleDefault("identity:create_role", ADMIN),
    RuleDefault("identity:get_role", "rule:authenticated"),
    RuleDefault("identity:list_roles", "rule:authenticated"),
    RuleDefault("identity:delete_role", ADMIN),
    RuleDefault("identity:assign_role", ADMIN),
    RuleDefault("identity:unassign_role", ADMIN),
    RuleDefault("identity:list_role_assignments", "rule:admin_required or user_id:%(user_id)s"),
    RuleDefault("identity:create_service", ADMIN),
    RuleDefault("identity:get_service", "rule:authenticated"),
    RuleDefault("identity:list_services", "rule:authenticated"),
    RuleDefault("identity:update_service", ADMIN),
    RuleDefault("identity:delete_service", ADMIN),
    RuleDefault("identity:create_endpoint", ADMIN),
    RuleDefault("identity:get_endpoint", "rule:authenticated"),
    RuleDefault("identity:list_endpoints", "rule:authenticated"),
    RuleDefault("identity:update_endpoint", ADMIN),
    RuleDefault("identity:delete_endpoint", ADMIN),
]
