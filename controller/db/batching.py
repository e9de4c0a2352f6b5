"""Requests served in batches: each caller awaits its own item's result, while a loop hands
every item waiting at that moment (up to `max_batch`) to one function call in a database
worker, so concurrent requests share one write transaction instead of queueing for the
write lock one by one. Alone, an item waits for nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Waiting:
    item: Any
    future: asyncio.Future


class Batcher:
    def __init__(self, db, fn: Callable[[list], list], max_batch: int, workers: int = 1):
        """`fn(items)` runs in a database worker and returns, per item, its result or the
        exception that item raises to its caller."""
        self.db = db
        self.fn = fn
        self.max_batch = max_batch
        self.workers = workers
        self._waiting: list[_Waiting] = []
        self._ready = asyncio.Event()

    async def submit(self, item):
        """The item's result, once a loop has served it."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, future))
        self._ready.set()
        return await future

    async def run(self) -> None:
        """The loops; the controller runs this as a background task."""
        await asyncio.gather(*(self._drain() for _ in range(self.workers)))

    async def _drain(self) -> None:
        while True:
            await self._ready.wait()
            batch = [w for w in self._waiting[: self.max_batch] if not w.future.done()]
            del self._waiting[: self.max_batch]
            if not self._waiting:
                self._ready.clear()
            if not batch:
                continue
            try:
                results = await self.db.run(self.fn, [w.item for w in batch])
            except Exception as error:  # noqa: BLE001 - the database failed: all hear of it
                results = [error] * len(batch)
            for waiting, result in zip(batch, results, strict=True):
                if waiting.future.done():  # the caller went away
                    continue
                if isinstance(result, Exception):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)
