"""Row locks that hold on every engine.

On PostgreSQL (and MySQL) SELECT ... FOR UPDATE locks the rows until the transaction ends, so
controller replicas sharing the database queue on them. SQLite has no row locks; there the
caller's transaction is BEGIN IMMEDIATE (Database.write_transaction), which already holds the
database's single write lock, so a plain read is enough.
"""


def lock_rows(db, query) -> list:
    """Runs `query` (inside a write transaction) locking its rows; returns them."""
    if db.dialect != "sqlite":
        query = query.for_update()
    return list(query)
