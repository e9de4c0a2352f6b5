"""Default policy rules of the compute API (overridable in the policy file). Project scoping
of servers, key pairs and groups is also enforced by the queries, so another project's
resources are NOT_FOUND whatever a policy file says."""

from controller.auth.policy import RuleDefault

ADMIN = "rule:admin_required"
MEMBER = "rule:project_member"
READER = "rule:project_reader"
ANY = "rule:authenticated"

_RULES = {
    "create_flavor": ADMIN,
    "get_flavor": ANY,
    "list_flavors": ANY,
    "update_flavor": ADMIN,
    "delete_flavor": ADMIN,
    "add_flavor_access": ADMIN,
    "remove_flavor_access": ADMIN,
    "list_flavor_access": ADMIN,
    "create_server": MEMBER,
    "get_server": READER,
    "list_servers": READER,
    "list_all_servers": ADMIN,
    "update_server": MEMBER,
    "delete_server": MEMBER,
    "stop_server": MEMBER,
    "start_server": MEMBER,
    "reboot_server": MEMBER,
    "pause_server": MEMBER,
    "unpause_server": MEMBER,
    "suspend_server": MEMBER,
    "resume_server": MEMBER,
    "create_server_image": MEMBER,
    "rebuild_server": MEMBER,
    "resize_server": MEMBER,
    "confirm_server_resize": MEMBER,
    "revert_server_resize": MEMBER,
    "migrate_server": ADMIN,
    "evacuate_server": ADMIN,
    "shelve_server": MEMBER,
    "unshelve_server": MEMBER,
    "lock_server": MEMBER,
    "unlock_server": MEMBER,
    "watch_servers": READER,
    "list_server_actions": READER,
    "get_console_output": MEMBER,
    "create_key_pair": ANY,
    "get_key_pair": ANY,
    "list_key_pairs": ANY,
    "delete_key_pair": ANY,
    "create_server_group": MEMBER,
    "get_server_group": READER,
    "list_server_groups": READER,
    "delete_server_group": MEMBER,
    "get_quotas": f"{ADMIN} or {READER}",
    "update_quotas": ADMIN,
    "delete_quotas": ADMIN,
    "list_availability_zones": ANY,
    "list_compute_services": ADMIN,
    "enable_compute_service": ADMIN,
    "disable_compute_service": ADMIN,
    "list_hypervisors": ADMIN,
    "get_hypervisor": ADMIN,
    "get_hypervisor_statistics": ADMIN,
}

RULES = [RuleDefault(f"compute:{name}", check) for name, check in _RULES.items()]
