"""Conversions every servicer needs between protobuf and plain Python."""

import datetime
from collections.abc import Iterable
from typing import Any

from google.protobuf import message, timestamp_pb2

_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_EPOCH = _EPOCH_UTC.replace(tzinfo=None)  # naive datetimes are UTC


def timestamp(moment: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A naive-UTC or aware datetime as a Timestamp (None stays unset). Computed from the
    difference to the epoch: a quarter of Timestamp.FromDatetime's cost, on every response."""
    if moment is None:
        return None
    since = moment - (_EPOCH if moment.tzinfo is None else _EPOCH_UTC)
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
    )


def optional(msg: message.Message, field: str) -> Any:
    """The value of a proto3 `optional` field, or None when unset."""
    return getattr(msg, field) if msg.HasField(field) else None


def changes(
    resource: message.Message, paths: Iterable[str], rename: dict[str, str] | None = None
) -> dict[str, Any]:
    """{field: value} of `resource` for the update_mask paths (already validated)."""
    rename = rename or {}
    return {rename.get(path, path): getattr(resource, path) for path in paths}
