"""The words of the image registry, as stored: statuses, visibilities, formats, reserved names."""

from stratus_common.image_inspection import DISK_FORMATS

QUEUED, SAVING, ACTIVE, KILLED, DEACTIVATED, DELETED = (
    "queued",
    "saving",
    "active",
    "killed",
    "deactivated",
    "deleted",
)
STATUSES = (QUEUED, SAVING, ACTIVE, KILLED, DEACTIVATED, DELETED)

PUBLIC, PRIVATE, SHARED, COMMUNITY = "public", "private", "shared", "community"
VISIBILITIES = (PUBLIC, PRIVATE, SHARED, COMMUNITY)

CONTAINER_FORMATS = ("bare", "ovf", "ova", "ami", "aki", "ari", "docker")
# Glance: an ami/aki/ari image must use the same word for both formats.
AMAZON_FORMATS = ("ami", "aki", "ari")
# Container formats whose content is the disk itself, so it is inspected as disk_format;
# the others are archives (tar), which may hold anything but a disk image header.
DISK_CONTAINERS = ("bare", "ami", "aki", "ari")

PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
MEMBER_STATUSES = (PENDING, ACCEPTED, REJECTED)

# Property names that are image fields (or were, in Glance's API) and the os_glance prefix.
RESERVED_PROPERTIES = frozenset(
    {
        "id",
        "name",
        "owner",
        "status",
        "visibility",
        "protected",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "tags",
        "properties",
        "created_at",
        "updated_at",
        "create_time",
        "update_time",
        "deleted",
        "deleted_at",
        "location",
        "locations",
        "direct_url",
        "self",
        "file",
        "schema",
        "stores",
        "os_hidden",
        "member_status",
    }
)
RESERVED_PREFIX = "os_glance"

__all__ = ["DISK_FORMATS"]
