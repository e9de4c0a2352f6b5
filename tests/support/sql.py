"""Plain SQL on a database URL the test process does not serve (SQLite, PostgreSQL, MySQL),
over a connection of our own: `?` placeholders whatever the engine."""

from __future__ import annotations

import contextlib
import sqlite3
from urllib.parse import unquote, urlparse


def connect(url: str):
    """A DB-API connection in autocommit mode."""
    if url.startswith("sqlite:///"):
        return sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
    if url.startswith("mysql://"):
        import pymysql

        parts = urlparse(url)
        return pymysql.connect(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
            autocommit=True,
        )
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def execute(url: str, statement: str, params=()) -> list:
    """Runs one statement; returns its rows (a list of tuples)."""
    conn = connect(url)
    try:
        cur = conn.cursor()
        if not url.startswith("sqlite:///"):
            statement = statement.replace("?", "%s")
        cur.execute(statement, params)
        return [tuple(row) for row in cur.fetchall()] if cur.description else []
    finally:
        conn.close()


@contextlib.contextmanager
def write_lock(url: str, table: str):
    """Holds a lock that blocks writes to `table` (reads go on) until the block ends."""
    conn = connect(url)
    cur = conn.cursor()
    if url.startswith("sqlite:///"):
        begin, end = "BEGIN IMMEDIATE", "COMMIT"
    elif url.startswith("mysql://"):
        begin, end = f"LOCK TABLES {table} READ", "UNLOCK TABLES"
    else:
        cur.execute("BEGIN")
        begin, end = f"LOCK TABLE {table} IN EXCLUSIVE MODE", "COMMIT"
    cur.execute(begin)
    try:
        yield
    finally:
        cur.execute(end)
        conn.close()
