"""Host names as node identities: one spelling, checked once."""

import re

from stratus_common.errors import InvalidArgument

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_host_name(name: str, field: str = "host_name") -> str:
    """Return `name` lower-cased, or raise InvalidArgument unless it is an RFC 1123 name.

    Identities are compared in this form, so `Node-1` and `node-1` are one host.
    """
    candidate = (name or "").strip().lower()
    if candidate.endswith("."):
        candidate = candidate[:-1]
    if (
        not candidate
        or len(candidate) > 253
        or not all(_LABEL.match(label) for label in candidate.split("."))
    ):
        raise InvalidArgument(
            field,
            "must be a DNS host name (letters, digits, '-' and '.')",
            reason="INVALID_HOST_NAME",
        )
    return candidate
