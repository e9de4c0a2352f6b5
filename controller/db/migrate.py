"""Numbered schema migrations, recorded in a history table.

Each module in controller/db/migrations/ is named `NNNN_slug.py` and defines `upgrade(m)` and
`downgrade(m)`, where `m.sql(...)` runs portable DDL. Migrations never import the live
models: a migration describes the schema as it was when it was written.
"""

from __future__ import annotations

import datetime
import importlib
import logging
import pkgutil
import re
from dataclasses import dataclass

from controller.db import migrations as migrations_package
from controller.db.database import dialect

log = logging.getLogger(__name__)
_RECORD_MIGRATION = "INSERT INTO schema_history (version, name, applied_at) VALUES (%s, %s, %s)"

# Column types that differ between engines; everything else is written in plain SQL.
TYPES = {
    "sqlite": {
        "timestamp": "TIMESTAMP",
        "blob": "BLOB",
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "json": "TEXT",
    },
    "postgresql": {
        "timestamp": "TIMESTAMP",
        "blob": "BYTEA",
        "serial": "BIGSERIAL PRIMARY KEY",
        "json": "TEXT",
    },
    "mysql": {
        "timestamp": "DATETIME(6)",
        "blob": "LONGBLOB",
        "serial": "BIGINT AUTO_INCREMENT PRIMARY KEY",
        "json": "LONGTEXT",
    },
}


class SchemaError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: object


class MigrationContext:
    def __init__(self, engine, dialect):
        self.engine = engine
        self.dialect = dialect

    def sql(self, *statements: str):
        """Runs DDL with {timestamp}, {blob}, {serial} and {json} replaced for this engine."""
        for statement in statements:
            self.engine.execute_sql(statement.format(**TYPES[self.dialect]))


def discover() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(migrations_package.__path__):
        match = re.fullmatch(r"m(\d{4})_(\w+)", info.name)
        if match:
            module = importlib.import_module(f"{migrations_package.__name__}.{info.name}")
            found.append(Migration(int(match.group(1)), match.group(2), module))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise SchemaError(f"two migrations share a number: {versions}")
    return found


def _ensure_history(engine):
    engine.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_history (version INTEGER PRIMARY KEY, "
        f"name VARCHAR(255) NOT NULL, applied_at {TYPES[dialect(engine)]['timestamp']} NOT NULL)"
    )


def current_version(engine) -> int:
    if "schema_history" not in engine.get_tables():
        return 0
    row = engine.execute_sql("SELECT MAX(version) FROM schema_history").fetchone()
    return row[0] or 0


def head() -> int:
    known = discover()
    return known[-1].version if known else 0


def sync(engine, target: int | None = None) -> list[str]:
    """Brings the schema to `target` (default: the newest); returns what it did, one line each."""
    known = discover()
    newest = known[-1].version if known else 0
    target = newest if target is None else target
    if target > newest or target < 0:
        raise SchemaError(f"no migration {target}: this code knows versions 0 to {newest}")
    with engine.connection_context():
        _ensure_history(engine)
        version = current_version(engine)
        if version > newest:
            raise SchemaError(
                f"the database schema is at version {version}, newer than this code knows "
                f"({newest}): upgrade Stratus before using this database"
            )
        ctx = MigrationContext(engine, dialect(engine))
        done = []
        for migration in known:
            if version < migration.version <= target:
                with engine.atomic():
                    migration.module.upgrade(ctx)
                    applied_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                    engine.execute_sql(
                        _RECORD_MIGRATION.replace("%s", engine.param),
                        (migration.version, migration.name, applied_at),
                    )
                done.append(f"applied {migration.version:04d} {migration.name}")
        for migration in reversed(known):
            if target < migration.version <= version:
                with engine.atomic():
                    migration.module.downgrade(ctx)
                    engine.execute_sql(
                        f"DELETE FROM schema_history WHERE version = {engine.param}",
                        (migration.version,),
                    )
                done.append(f"reverted {migration.version:04d} {migration.name}")
        for line in done:
            log.info(line)
        return done


def check_current(engine):
    """Refuses to serve on a schema older or newer than the code."""
    with engine.connection_context():
        version = current_version(engine)
    newest = head()
    if version < newest:
        raise SchemaError(
            f"the database schema is at version {version}, this code needs {newest}: "
            "run `stratus-manage db sync`"
        )
    if version > newest:
        raise SchemaError(
            f"the database schema is at version {version}, newer than this code knows "
            f"({newest}): upgrade Stratus"
        )
