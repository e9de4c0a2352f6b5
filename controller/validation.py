"""Input checks shared by every service; each raises InvalidArgument naming the field."""

import re
import uuid as _uuid

from stratus_common.errors import InvalidArgument

_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


def name(field: str, value: str, max_length: int = 255) -> str:
    """A display name: 1..max_length characters, no control characters, not only spaces."""
    if not value or not value.strip():
        raise InvalidArgument(field, "must not be empty")
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    if _NAME_FORBIDDEN.search(value):
        raise InvalidArgument(field, "must not contain control characters")
    return value


def text(field: str, value: str, max_length: int = 65535) -> str:
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return value


def uuid(field: str, value: str) -> str:
    """A resource id; empty or malformed ids are INVALID_ARGUMENT, not NOT_FOUND."""
    if not value:
        raise InvalidArgument(field, "is required")
    try:
        return str(_uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None


def optional_uuid(field: str, value: str) -> str | None:
    return uuid(field, value) if value else None


def update_mask(paths, allowed: set[str], field: str = "update_mask") -> set[str]:
    paths = set(paths)
    if not paths:
        raise InvalidArgument(field, "must name at least one field")
    unknown = paths - allowed
    if unknown:
        raise InvalidArgument(
            field,
            f"cannot update {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}",
        )
    return paths
