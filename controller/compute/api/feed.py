"""The change feed: one reader of new server revisions per controller process, fanned out to
every open WatchServers stream.

Each stream used to poll the database itself, four times a second: 500 idle streams took a
core. Now one task reads the revisions committed since its last read (other replicas' writes
included) and offers each row to the streams whose filter it passes. A stream reads its
backlog from the database itself, then waits on its own queue; a queue that fills (a client
that does not read) is dropped and its stream reads its backlog again, so memory per stream
stays bounded. Revisions are taken under one counter row lock and committed in order, so
reading `revision > last` misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from controller.compute.api import watch
from controller.compute.records import lifecycle
from controller.compute.records.models import Instance
from controller.db.database import Database

log = logging.getLogger(__name__)


class Subscription:
    """One stream's share of the feed: the rows its filter passes, up to `size` unread."""

    def __init__(self, matches: Callable[[Instance], bool], size: int):
        self.matches = matches
        self._queue: asyncio.Queue[Instance | None] = asyncio.Queue(size)
        self._lagging = False

    def offer(self, row: Instance) -> None:
        if self._lagging or not self.matches(row):
            return
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:  # the stream reads its backlog from the database
            self._lagging = True
            self._drain()
            self._queue.put_nowait(None)

    def resume(self) -> None:
        """Called before the stream reads its backlog: rows read by the feed from now on are
        kept (those committed earlier are in the backlog)."""
        self._lagging = False
        self._drain()

    async def next(self) -> Instance | None:
        """The next row; None when rows were dropped (read the backlog, then resume)."""
        return await self._queue.get()

    async def follow(
        self, backlog: Callable[[int], Awaitable[list[Instance]]], since: int
    ) -> AsyncIterator[Instance]:
        """The rows after revision `since`, in order: the backlog, read in batches by
        `backlog(revision)`, then the feed's, with the backlog read again after a drop."""
        revision, behind = since, True
        while True:
            if behind:
                self.resume()
                rows = await backlog(revision)
                behind = len(rows) >= watch.BATCH
            else:
                row = await self.next()
                behind = row is None
                rows = [row] if row is not None and row.revision > revision else []
            for row in rows:
                yield row
                revision = row.revision

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


class ChangeFeed:
    def __init__(self, db: Database, interval: float, queue_size: int):
        self.db = db
        self.interval = interval
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._last: int | None = None  # the last revision offered; None while idle

    @contextlib.asynccontextmanager
    async def subscribe(self, matches: Callable[[Instance], bool]) -> AsyncIterator[Subscription]:
        """A subscription to every row committed after this returns (rows committed before
        are the stream's backlog)."""
        if self._last is None:
            self._last = await self.db.run(lifecycle.current_revision)
        subscription = Subscription(matches, self.queue_size)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    async def read_once(self) -> int:
        """Offers the rows committed since the last read; returns how many were read."""
        if not self._subscribers or self._last is None:
            self._last = None  # idle: the next subscriber starts afresh
            return 0
        rows = await self.db.run(watch.rows_after, self._last)
        for row in rows:
            for subscription in list(self._subscribers):
                subscription.offer(row)
        if rows:
            self._last = rows[-1].revision
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                read = await self.read_once()
            except Exception:  # a database hiccup must not end the feed
                log.exception("reading server changes failed; retrying")
                read = 0
            if read < watch.BATCH:
                await asyncio.sleep(self.interval)
