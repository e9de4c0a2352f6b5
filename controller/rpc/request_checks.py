"""The input rules every public request meets before any handler or query runs.

Checked by descriptor over every field that is set, nested messages, repeated fields and maps
included, so a new RPC is covered without a line of its own:
- every string has a length bound (255 characters unless LONG_FIELDS says more) and no control
  character (NUL breaks PostgreSQL; newlines and escape sequences forge log lines); the
  multi-line fields (descriptions, PEM, keys, passwords) may hold tabs and line breaks;
- every repeated field and map holds at most MAX_ITEMS entries, fewer where a filter becomes
  one SQL term per entry (FILTER_ITEMS);
- every Timestamp and Duration is inside its documented range;
- a field named `id`, `<thing>_id` or `<thing>_ids` is a UUID (AIP: a malformed id is
  INVALID_ARGUMENT naming the field, a well-formed unknown one NOT_FOUND), except flavor ids
  (free-form, as Nova's) and `request_id` (a client's idempotency key).
A failure is INVALID_ARGUMENT naming the field, never an echo of the value.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from stratus_common.errors import InvalidArgument


@dataclass(frozen=True)
class Rule:
    max_length: int = 255
    multiline: bool = False


_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
DEFAULT = Rule()
_TEXT = Rule(65535, multiline=True)
_SECRET = Rule(4096, multiline=True)
_TOKEN = Rule(4096)
_PEM = Rule(65536, multiline=True)

# Fields whose contract needs more than DEFAULT, by the field's full name.
LONG_FIELDS = {
    **{
        f"stratus.identity.v1.{m}.description": _TEXT
        for m in ("User", "Project", "Role", "Service")
    },
    "stratus.compute.v1.Flavor.description": _TEXT,
    "stratus.identity.v1.IssueTokenRequest.password": _SECRET,
    "stratus.identity.v1.CreateUserRequest.password": _SECRET,
    "stratus.identity.v1.UpdateUserRequest.password": _SECRET,
    "stratus.identity.v1.ChangePasswordRequest.original_password": _SECRET,
    "stratus.identity.v1.ChangePasswordRequest.new_password": _SECRET,
    "stratus.identity.v1.ValidateTokenRequest.token": _TOKEN,
    "stratus.identity.v1.RevokeTokenRequest.token": _TOKEN,
    "stratus.ca.v1.EnrollNodeRequest.token": _TOKEN,
    "stratus.identity.v1.Endpoint.url": Rule(2048),
    "stratus.image.v1.Image.PropertiesEntry.value": _TEXT,
    "stratus.ca.v1.EnrollNodeRequest.csr_pem": _PEM,
    "stratus.ca.v1.RenewCertificateRequest.csr_pem": _PEM,
    "stratus.compute.v1.KeyPair.public_key": Rule(16384, multiline=True),
}
PAGE_TOKEN = Rule(8192)  # every `page_token`: sealed positions (see page_tokens.py)

MAX_ITEMS = 128  # Glance's image_tag_quota and image_property_quota
# Filters that become one SQL term per entry: SQLite's parser nests them, and 100 overflow it.
FILTER_ITEMS = {
    "stratus.image.v1.ListImagesRequest.tags": 32,
    "stratus.image.v1.ListImagesRequest.properties": 32,
}

_TIMESTAMP_SECONDS = (-62135596800, 253402300799)  # 0001-01-01 .. 9999-12-31T23:59:59
_DURATION_SECONDS = 315576000000  # 10,000 years, google.protobuf.Duration's bound


def _is_uuid_field(field: FieldDescriptor) -> bool:
    name = field.name
    owner = field.containing_type
    if (
        name == "request_id"
        or "flavor" in name
        or (name == "id" and owner is not None and owner.name.startswith("Flavor"))
    ):
        return False
    return bool(name == "id" or name.endswith(("_id", "_ids")))


def check(message: Message, prefix: str = "") -> None:
    """Raises InvalidArgument for the first field of `message` that breaks a rule."""
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            _check_count(field, len(value), path)
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str):
                    _check_string(field.message_type.fields_by_name["key"], key, path)
                _check_one(value_field, item, f"{path}.{key}" if _plain(key) else path)
        elif field.is_repeated:
            _check_count(field, len(value), path)
            for index, item in enumerate(value):
                _check_one(field, item, f"{path}[{index}]")
        else:
            _check_one(field, value, path)


def _plain(key: object) -> bool:
    return not isinstance(key, str) or (len(key) <= 64 and not _SINGLE_LINE.search(key))


def _check_one(field: FieldDescriptor, value: Any, path: str) -> None:
    if field.type == FieldDescriptor.TYPE_STRING:
        _check_string(field, value, path)
    elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        kind = field.message_type.full_name
        if kind == "google.protobuf.Timestamp":
            _check_timestamp(value, path)
        elif kind == "google.protobuf.Duration":
            _check_duration(value, path)
        else:
            check(value, path + ".")


def _check_count(field: FieldDescriptor, count: int, path: str) -> None:
    limit = FILTER_ITEMS.get(field.full_name, MAX_ITEMS)
    if count > limit:
        raise InvalidArgument(path, f"must hold at most {limit} entries")


@functools.cache  # per field of the services' messages: a few hundred
def _string_rule(field: FieldDescriptor) -> tuple[Rule, bool]:
    """The field's rule, and whether it holds a UUID."""
    rule = PAGE_TOKEN if field.name == "page_token" else LONG_FIELDS.get(field.full_name, DEFAULT)
    return rule, _is_uuid_field(field)


def _check_string(field: FieldDescriptor, value: str, path: str) -> None:
    rule, is_uuid = _string_rule(field)
    if len(value) > rule.max_length:
        raise InvalidArgument(path, f"must be at most {rule.max_length} characters")
    if (_MULTI_LINE if rule.multiline else _SINGLE_LINE).search(value):
        raise InvalidArgument(path, "must not contain control characters")
    if value and is_uuid:
        try:
            uuid.UUID(value)
        except ValueError:
            raise InvalidArgument(path, "must be a UUID") from None


def _check_timestamp(value: Timestamp, path: str) -> None:
    low, high = _TIMESTAMP_SECONDS
    if not low <= value.seconds <= high or not 0 <= value.nanos <= 999_999_999:
        raise InvalidArgument(path, "must be a time between years 1 and 9999")


def _check_duration(value: Duration, path: str) -> None:
    if (
        abs(value.seconds) > _DURATION_SECONDS
        or abs(value.nanos) > 999_999_999
        or value.seconds * value.nanos < 0
    ):
        raise InvalidArgument(path, "must be a duration within 10,000 years")
