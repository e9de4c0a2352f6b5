"""Small query helpers shared by every area."""
import contextlib
import datetime

import peewee

from controller.errors import AlreadyExists, NotFound


def utcnow() -> datetime.datetime:
    """Naive UTC, as every timestamp column stores it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def get_or_not_found(model, resource_id: str, what: str):
    row = model.get_or_none(model._meta.primary_key == resource_id)
    if row is None:
        raise NotFound(f"{what} {resource_id} not found", reason=f"{what.upper()}_NOT_FOUND",
                       **{f"{what}_id": resource_id})
    return row


@contextlib.contextmanager
def unique(what: str, field: str, value: str):
    """Turns a unique-constraint violation into ALREADY_EXISTS naming the value."""
    try:
        yield
    except peewee.IntegrityError as exc:
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise AlreadyExists(f"a {what} with {field} {value!r} already exists",
                                reason=f"{what.upper()}_EXISTS", **{field: value}) from None
        raise
