"""The node's record of commands it has received and what came of them: at most once.

A command id is written as `queued` when it arrives, `started` once it holds a run slot and
before anything is done, and its result afterwards, in a small SQLite file beside the agent's
other state. A command seen again is never run again: a finished one gets its recorded
result; one that a stopped agent left `started` is reported as interrupted (the executor
decides what that means for its instance). One left `queued` never began: it simply runs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass

QUEUED, STARTED, DONE = "queued", "started", "done"


@dataclass(frozen=True)
class Entry:
    command_id: str
    state: str
    boot_id: str  # which agent run started it
    result: bytes | None


class Journal:
    def __init__(self, path: str, boot_id: str, clock=time.time):
        self.boot_id = boot_id
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS command (
            id TEXT PRIMARY KEY, instance_id TEXT, state TEXT NOT NULL, boot_id TEXT NOT NULL,
            result BLOB, updated_at REAL NOT NULL)""")

    def receive(self, command_id: str, instance_id: str) -> Entry | None:
        """Record `command_id` as queued; None if new, else what was recorded before."""
        with self._lock:
            row = self._db.execute(
                "SELECT state, boot_id, result FROM command WHERE id = ?", (command_id,)
            ).fetchone()
            if row is not None:
                return Entry(command_id, row[0], row[1], row[2])
            self._db.execute(
                "INSERT INTO command VALUES (?, ?, ?, ?, NULL, ?)",
                (command_id, instance_id, QUEUED, self.boot_id, self.clock()),
            )
            return None

    def start(self, command_id: str) -> None:
        """Record that `command_id` begins now (it holds its run slot), in this agent run."""
        with self._lock:
            self._db.execute(
                "UPDATE command SET state = ?, boot_id = ?, updated_at = ? WHERE id = ?",
                (STARTED, self.boot_id, self.clock(), command_id),
            )

    def finish(self, command_id: str, result: bytes) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE command SET state = ?, result = ?, updated_at = ? WHERE id = ?",
                (DONE, result, self.clock(), command_id),
            )

    def get(self, command_id: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, boot_id, result FROM command WHERE id = ?", (command_id,)
            ).fetchone()
        return None if row is None else Entry(command_id, row[0], row[1], row[2])

    def prune(self, older_than: float) -> int:
        """Forget finished commands last touched before `older_than` (seconds since epoch):
        the controller stops resending a command once it has its result."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM command WHERE state = ? AND updated_at < ?", (DONE, older_than)
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
