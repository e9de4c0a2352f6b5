"""Column types every area's models share, stored the same way on every engine."""

import json

import peewee


class JSONField(peewee.TextField):
    """A dict stored as JSON text; an empty dict when unset."""

    def db_value(self, value):
        return json.dumps(value or {}, sort_keys=True)

    def python_value(self, value):
        return json.loads(value) if value else {}


class JSONValueField(peewee.TextField):
    """Any JSON value; None stays NULL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BlobField(peewee.BlobField):
    """bytes on every engine (PostgreSQL's driver returns a memoryview)."""

    def python_value(self, value):
        return bytes(value) if value is not None else b""
