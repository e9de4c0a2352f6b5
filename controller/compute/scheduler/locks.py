"""Row locks that hold on every engine.

On PostgreSQL (and MySQL) SELECT ... FOR UPDATE locks the rows until the transaction ends, so
controller replicas sharing the database queue on them. SQLite has no row locks; there the
caller's transaction is BEGIN IMMEDIATE (Database.write_transaction), which already holds the
database's single write lock, so a plain read is enough.

Lock order, in every transaction, so no two can wait on each other: project (quota), server
group, compute host, server, and the revision counter last (lifecycle.bump).
"""
import peewee


def _is_sqlite(database) -> bool:
    database = getattr(database, "obj", database)  # through a DatabaseProxy
    return isinstance(database, peewee.SqliteDatabase)


def lock_rows(db, query) -> list:
    """Runs `query` (inside a write transaction) locking its rows; returns them."""
    if not _is_sqlite(getattr(db, "engine", db)):
        query = query.for_update()
    return list(query)


def lock_query(query) -> list:
    """The same, for code that has no Database handle: the model's own database decides."""
    return lock_rows(query.model._meta.database, query)
