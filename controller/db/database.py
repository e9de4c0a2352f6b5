"""The database: one peewee proxy every model binds to, and a pool of worker threads.

peewee is synchronous; the controller is asyncio. All database work runs as a plain function
in a worker thread (`await db.run(fn, ...)`), each thread holding a pooled connection, so the
event loop never blocks on I/O and domain code stays plain, testable Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import peewee
from playhouse import db_url
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from stratus_common.errors import Unavailable

log = logging.getLogger(__name__)
proxy = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    # Writers wait for each other instead of failing with "database is locked".
    "busy_timeout": 15000,
}


# Beyond the worker threads, a few other threads (tools, tests, start-up) may hold a
# connection; when all are taken, a caller waits this many seconds rather than failing.
POOL_WAIT = 30


class BaseModel(peewee.Model):
    class Meta:
        database = proxy
        legacy_table_names = False


def connect(url: str, workers: int = 8) -> peewee.Database:
    """Opens a pooled database for a URL: sqlite:///path, postgresql://..., mysql://..."""
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else None
        if not path:
            raise ValueError(f"database url {url!r}: use sqlite:////absolute/path.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return PooledSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            max_connections=workers + 8,
            stale_timeout=None,
            timeout=POOL_WAIT,
            check_same_thread=False,
        )
    if scheme in ("postgres", "postgresql"):
        parsed = db_url.parse(url)
        return PooledPostgresqlDatabase(
            max_connections=workers + 8, stale_timeout=300, timeout=POOL_WAIT, **parsed
        )
    if scheme == "mysql":
        from pymysql.constants import CLIENT

        return db_url.connect(
            url.replace("mysql://", "mysql+pool://", 1),
            max_connections=workers + 8,
            timeout=POOL_WAIT,
            # An UPDATE counts the rows it matched, as on SQLite and PostgreSQL, not only the
            # rows whose values changed: "did my conditional update win" reads the same.
            client_flag=CLIENT.FOUND_ROWS,
        )
    raise ValueError(f"database url {url!r}: unsupported scheme {scheme!r}")


def dialect(database: peewee.Database | peewee.DatabaseProxy | None = None) -> str:
    """ "sqlite", "postgresql" or "mysql": of `database`, or of the bound engine. The one place
    that asks which database this is."""
    database = proxy if database is None else database
    database = getattr(database, "obj", database)  # through the DatabaseProxy
    if isinstance(database, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(database, peewee.PostgresqlDatabase):
        return "postgresql"
    return "mysql"


def upsert(query, conflict_target: list, update: dict):
    """`query` (an INSERT) as insert-or-update when a row with the same `conflict_target`
    exists. MySQL's ON DUPLICATE KEY UPDATE names no target (the table's unique keys decide),
    so `conflict_target` must be a unique key of the table."""
    if dialect() == "mysql":
        return query.on_conflict(update=update)
    return query.on_conflict(conflict_target=conflict_target, update=update)


def has_returning() -> bool:
    """SQLite (3.35+) and PostgreSQL have INSERT/UPDATE ... RETURNING; MySQL has not."""
    return dialect() != "mysql"


# SQLite has one writer at a time anyway; queueing this process's writers on a lock is fair
# and immediate, where SQLite's busy handler sleeps and retries (long tails under load).
_sqlite_writer = threading.RLock()


@contextlib.contextmanager
def _sqlite_write_transaction(engine):
    with _sqlite_writer, engine.atomic(lock_type="IMMEDIATE"):
        yield


def write_transaction():
    """A transaction that takes the write lock up front.

    On SQLite, BEGIN IMMEDIATE (behind this process's writer lock) avoids the deadlock of two
    readers upgrading to writers; on PostgreSQL, rows that must not change underneath are
    read with for_update().
    """
    engine = proxy.obj
    return _sqlite_write_transaction(engine) if dialect(engine) == "sqlite" else engine.atomic()


# Row locks, the one mechanism for them. On PostgreSQL (and MySQL) SELECT ... FOR UPDATE locks
# the rows until the transaction ends, so controller replicas sharing the database queue on
# them. SQLite has no row locks; there every write transaction is BEGIN IMMEDIATE
# (write_transaction), which already holds the database's single write lock, so a plain read
# is enough. Lock order, in every transaction, so no two can wait on each other: project
# (quota), server group, compute host(s), server(s), the revision counter, and the network
# area's change counter (controller/network/revision.py) after all of them.


def for_update(query):
    """`query` as SELECT ... FOR UPDATE where the engine has row locks (call it when the
    query is built; a prepared query is rendered per engine, so it may call it too)."""
    return query if dialect() == "sqlite" else query.for_update()


def locked(query) -> list:
    """Runs `query` inside the caller's write transaction, locking its rows; returns them."""
    return list(for_update(query))


# MySQL drivers report bad SQL as OperationalError too; these codes are the ones that mean
# "retry later": the server gone or refusing connections, the connection cut, and the lock
# conflicts that PostgreSQL reports as OperationalError as well (deadlock, lock wait timeout).
_MYSQL_RETRYABLE = {1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055}


def _retryable(exc: Exception, kind: str) -> bool:
    """Whether a driver error means the database cannot serve now (UNAVAILABLE)."""
    if kind == "sqlite":  # a local file: its errors are not an outage
        return False
    if kind != "mysql" or isinstance(exc, peewee.InterfaceError):
        return True
    # peewee re-raises the driver's exception as its own, the driver's as the first argument
    driver_error = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    return bool(driver_error.args) and driver_error.args[0] in _MYSQL_RETRYABLE


# The Database whose unit of work (Database.call) is under way in this context: how code
# deep inside a transaction reaches the listeners its own controller registered.
_running: contextvars.ContextVar[Database] = contextvars.ContextVar("running_database")


def tell(event: str, *args: Any) -> None:
    """Calls the listeners of `event` registered on the Database of the unit of work under
    way, in its transaction (none outside Database.call, e.g. in a tool without the area)."""
    database = _running.get(None)
    for listener in database.listeners.get(event, []) if database else []:
        listener(*args)


class Database:
    """The controller's handle on the database: runs units of work in worker threads."""

    def __init__(self, url: str, workers: int = 8):
        self.url = url
        self.engine = connect(url, workers)
        self.dialect = dialect(self.engine)
        proxy.initialize(self.engine)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        # What other areas are told of changes made in this controller's transactions, by
        # event name (`tell`): each controller its own, however many share the process.
        self.listeners: dict[str, list[Callable[..., Any]]] = {}

    def listen(self, event: str, listener: Callable[..., Any]) -> None:
        self.listeners.setdefault(event, []).append(listener)

    async def run(self, fn, *args, **kwargs):
        """Runs fn(*args, **kwargs) in a worker thread inside a connection context."""
        call = functools.partial(self.call, fn, *args, **kwargs)
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._executor, ctx.run, call)

    def call(self, fn, *args, **kwargs):
        """The same, synchronously, for command-line tools and tests. A database server that
        cannot be reached (down, restarting, the connection cut) is UNAVAILABLE: the caller
        may retry, and nothing was committed. The pool drops the broken connection."""
        running = _running.set(self)
        try:
            with self.engine.connection_context():
                return fn(*args, **kwargs)
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            if not _retryable(exc, self.dialect):
                raise
            log.warning("the database is unreachable: %s", str(exc).strip().splitlines()[0])
            raise Unavailable(
                "the database is unavailable; retry later", reason="DATABASE_UNAVAILABLE"
            ) from exc
        finally:
            _running.reset(running)

    write_transaction = staticmethod(write_transaction)

    def close(self):
        self._executor.shutdown(wait=True)
        self.engine.close_all()
