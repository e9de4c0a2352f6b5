"""Keyset pagination with opaque page tokens (AIP-158).

A token records where the previous page ended and a digest of the filters it was made for, so
a token cannot be replayed against a different query.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass

import peewee

from stratus_common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    size: int
    after: tuple | None
    digest: str


def _digest(filters: dict) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def page_request(page_size: int, page_token: str, filters: dict | None = None) -> Page:
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    digest = _digest(filters or {})
    if not page_token:
        return Page(size, None, digest)
    try:
        data = json.loads(
            base64.urlsafe_b64decode(page_token.encode() + b"=" * (-len(page_token) % 4))
        )
        if not isinstance(data["a"], list):
            raise TypeError("the position is not a list")
        after, token_digest = tuple(_decode(v) for v in data["a"]), data["d"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument("page_token", "is not a token this server issued") from None
    if token_digest != digest:
        raise InvalidArgument("page_token", "was issued for different filters")
    return Page(size, after, digest)


def paginate(query, page: Page, keys):
    """Runs `query` ordered by `keys` and returns (rows, next_token).

    Keys are peewee fields (ascending) or `field.desc()`; the last one must be unique.
    """
    query = query.order_by(*keys)
    if page.after is not None:
        if len(page.after) != len(keys):
            raise InvalidArgument("page_token", "is not a token this server issued")
        query = query.where(_after(keys, page.after))
    rows = list(query.limit(page.size + 1))
    return cut(page, rows, lambda last: [last.__data__[_field(key).name] for key in keys])


def cut(page: Page, records: list, position_of) -> tuple[list, str]:
    """For records fetched with one extra (size + 1): the page, and the token after it.

    `position_of(record)` gives the record's sort key (column values); page.after returns it.
    """
    if len(records) <= page.size:
        return records, ""
    records = records[: page.size]
    position = [_encode(value) for value in position_of(records[-1])]
    token = base64.urlsafe_b64encode(json.dumps({"a": position, "d": page.digest}).encode())
    return records, token.decode().rstrip("=")


def _encode(value):
    """A key column's value as JSON; times (naive UTC, as stored) are tagged to come back as
    times."""
    if isinstance(value, datetime.datetime):
        return {"t": value.isoformat()}
    return value


def _decode(value):
    """Back from _encode. Only column values are accepted: anything else would reach the query."""
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
        return datetime.datetime.fromisoformat(value["t"])
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(f"not a column value: {type(value).__name__}")


def _field(key):
    return key.node if isinstance(key, peewee.Ordering) else key


def _beyond(key, value):
    """Rows past `value` in the key's own direction."""
    if isinstance(key, peewee.Ordering) and key.direction == "DESC":
        return key.node < value
    return _field(key) > value


def _after(keys, values):
    """(k1, k2, ...) beyond (v1, v2, ...) spelled out, portable to every engine."""
    first, *rest = keys
    if not rest:
        return _beyond(first, values[0])
    return _beyond(first, values[0]) | ((_field(first) == values[0]) & _after(rest, values[1:]))
