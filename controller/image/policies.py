"""Default policy rules of the image service (Glance's defaults, overridable in the policy file).

Targets: `project_id` is the image's owner; `member_id` is the caller's project when it is a
member of that (shared) image; `visibility` is the image's. Visibility itself is enforced by
the queries: an image the caller may not see is NOT_FOUND before any rule runs.
"""

from controller.auth.policy import RuleDefault

ADMIN = "rule:admin_required"
OWNER_MEMBER = "rule:admin_required or rule:project_member"

RULES = [
    RuleDefault(
        "image:any_role",
        "role:reader or role:member or role:admin",
        "Any role on the caller's project",
    ),
    RuleDefault(
        "image:visible",
        "project_id:%(project_id)s or project_id:%(member_id)s"
        " or 'public':%(visibility)s or 'community':%(visibility)s",
        "The image is the caller's, shared with it, public or community",
    ),
    RuleDefault("image:create_image", OWNER_MEMBER),
    RuleDefault(
        "image:get_image", "rule:admin_required or (rule:image:any_role and rule:image:visible)"
    ),
    RuleDefault("image:list_images", "rule:admin_required or rule:project_reader"),
    RuleDefault("image:update_image", OWNER_MEMBER),
    RuleDefault("image:publicize_image", ADMIN, "Make an image public"),
    RuleDefault("image:communitize_image", OWNER_MEMBER, "Make an image community"),
    RuleDefault("image:delete_image", OWNER_MEMBER),
    RuleDefault("image:deactivate_image", ADMIN),
    RuleDefault("image:reactivate_image", ADMIN),
    RuleDefault("image:upload_image", OWNER_MEMBER),
    RuleDefault(
        "image:download_image",
        "rule:admin_required or (rule:image:any_role and rule:image:visible)",
    ),
    RuleDefault("image:add_member", OWNER_MEMBER),
    RuleDefault(
        "image:get_member",
        "rule:admin_required or (rule:image:any_role and "
        "(project_id:%(project_id)s or project_id:%(member_id)s))",
    ),
    RuleDefault(
        "image:list_members",
        "rule:admin_required or (rule:image:any_role and "
        "(project_id:%(project_id)s or project_id:%(member_id)s))",
    ),
    RuleDefault(
        "image:update_member", "rule:admin_required or (role:member and project_id:%(member_id)s)"
    ),
    RuleDefault("image:remove_member", OWNER_MEMBER),
]
