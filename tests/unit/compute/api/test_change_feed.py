"""The change feed's fan-out: a stream follows its backlog then the feed's rows, in revision
order, without loss or repeat, and a stream that reads nothing holds a bounded queue."""

import asyncio
import contextlib
from types import SimpleNamespace

from controller.compute.api.feed import ChangeFeed, Subscription
from controller.compute.api.watch import matcher


class Table:
    """Rows as the database has them; the backlog reads from here."""

    def __init__(self):
        self.rows = []

    def add(self, project: str) -> SimpleNamespace:
        row = SimpleNamespace(
            id=f"s{len(self.rows)}", project_id=project, revision=len(self.rows) + 1
        )
        self.rows.append(row)
        return row

    async def backlog(self, revision: int):
        return [r for r in self.rows if r.revision > revision][:200]


def caller(project: str):
    return SimpleNamespace(is_admin=False, project_id=project)


def following(subscription: Subscription, table: Table, since: int, seen: list):
    """A stream reading what the subscription gives after `since` into `seen`."""

    async def follow():
        async for row in subscription.follow(table.backlog, since):
            seen.append(row.revision)  # noqa: PERF401 - it runs until cancelled

    return asyncio.ensure_future(follow())


def test_a_stream_gets_its_backlog_then_live_rows_in_order_once():
    async def scenario():
        table = Table()
        for _ in range(3):
            table.add("p")
        subscription = Subscription(matcher(caller("p")), size=8)
        seen = []
        task = following(subscription, table, 1, seen)
        await asyncio.sleep(0)
        for _ in range(3):
            row = table.add("p")
            subscription.offer(row)  # the feed offers what the backlog also read
        table.add("other")  # another project's: never offered through
        subscription.offer(table.rows[-1])
        await asyncio.sleep(0.05)
        task.cancel()
        return seen

    assert asyncio.run(scenario()) == [2, 3, 4, 5, 6]


def test_an_unread_stream_drops_its_queue_and_reads_its_backlog_again():
    async def scenario():
        table = Table()
        subscription = Subscription(matcher(caller("p")), size=4)
        for _ in range(50):  # nobody reads: the queue stays at 4 at most
            subscription.offer(table.add("p"))
            assert subscription._queue.qsize() <= 4
        seen = []
        task = following(subscription, table, 0, seen)
        await asyncio.sleep(0.05)
        task.cancel()
        return seen

    assert asyncio.run(scenario()) == list(range(1, 51))


def test_the_feed_reads_once_for_every_subscriber():
    reads = []

    class Db:
        async def run(self, fn, *args):
            reads.append(fn.__name__)
            return 0 if fn.__name__ == "current_revision" else []

    async def scenario():
        feed = ChangeFeed(Db(), interval=0.01, queue_size=4)
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(100):
                await streams.enter_async_context(feed.subscribe(lambda row: True))
            reads.clear()
            await feed.read_once()
        await feed.read_once()  # no subscriber: no read

    asyncio.run(scenario())
    assert reads == ["rows_after"]
