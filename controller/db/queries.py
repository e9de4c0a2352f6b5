"""Small query helpers shared by every area."""

import contextlib
import datetime
import functools

import peewee

from controller.db.prepared import Param, Prepared
from stratus_common.errors import AlreadyExists, NotFound


def utcnow() -> datetime.datetime:
    """Naive UTC, as every timestamp column stores it."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@functools.cache
def by_primary_key(model) -> Prepared:
    """`.first(id=...)`: the row, or None."""
    return Prepared(lambda: model.select().where(model._meta.primary_key == Param("id")))


def get_or_not_found(model, resource_id: str, what: str):
    row = by_primary_key(model).first(id=resource_id)
    if row is None:
        raise NotFound(
            f"{what} {resource_id} not found",
            reason=f"{what.upper()}_NOT_FOUND",
            **{f"{what}_id": resource_id},
        )
    return row


@contextlib.contextmanager
def unique(what: str, field: str, value: str):
    """Turns a unique-constraint violation into ALREADY_EXISTS naming the value."""
    try:
        yield
    except peewee.IntegrityError as exc:
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise AlreadyExists(
                f"a {what} with {field} {value!r} already exists",
                reason=f"{what.upper()}_EXISTS",
                **{field: value},
            ) from None
        raise
