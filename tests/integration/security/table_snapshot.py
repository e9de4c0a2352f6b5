"""Every row of every table of a controller's database, read over a connection of our own.

The fuzzing suite compares a snapshot before and after each refused request. The controller
under test is a child process with a database of its own, so nothing else writes to it.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

from tests.support import sql

TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    "postgresql": "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = 'public' ORDER BY table_name",
    "mysql": "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = DATABASE() ORDER BY table_name",
}
QUOTE = {"sqlite": '"', "postgresql": '"', "mysql": "`"}


class TableSnapshot:
    def __init__(self, database_url: str):
        scheme = urlparse(database_url).scheme
        self.dialect = "postgresql" if scheme.startswith("postgres") else scheme
        # autocommit: every read sees the latest commit
        self.conn = sql.connect(database_url)

    def take(self) -> dict[str, list[tuple]]:
        """Table -> its rows, each a tuple of (column, repr(value)), sorted."""
        cur = self.conn.cursor()
        cur.execute(TABLES[self.dialect])
        tables = [row[0] for row in cur.fetchall()]
        out = {}
        for table in tables:
            q = QUOTE[self.dialect]
            cur.execute(f"SELECT * FROM {q}{table}{q}")
            columns = [c[0] for c in cur.description]
            out[table] = sorted(
                tuple(zip(columns, map(repr, row), strict=True)) for row in cur.fetchall()
            )
        return out

    def busy(self, query: str) -> bool:
        cur = self.conn.cursor()
        cur.execute(query)
        return bool(cur.fetchone()[0])

    def settled(
        self, busy_query: str, timeout: float = 10.0, pause: float = 0.03
    ) -> dict[str, list[tuple]]:
        """A snapshot once `busy_query` counts no work in flight and the rows stayed the same
        across a pause: the asynchronous ends of earlier calls have landed."""
        deadline = time.monotonic() + timeout
        last = self.take()
        while time.monotonic() < deadline:
            time.sleep(pause)
            now = self.take()
            if now == last and not self.busy(busy_query):
                return now
            last = now
        return last

    def close(self):
        self.conn.close()


def _without(rows, columns: frozenset) -> set:
    return {tuple(cell for cell in row if cell[0] not in columns) for row in rows}


def difference(
    before: dict, after: dict, may_change: dict | None = None, limit: int = 3
) -> dict[str, dict]:
    """Per changed table, a few rows that went and a few that came; the columns of
    `may_change` (table -> columns) do not count."""
    out = {}
    for table in sorted(set(before) | set(after)):
        ignored = frozenset((may_change or {}).get(table, ()))
        old = _without(before.get(table, ()), ignored)
        new = _without(after.get(table, ()), ignored)
        if old != new:
            out[table] = {"gone": sorted(old - new)[:limit], "new": sorted(new - old)[:limit]}
    return out
