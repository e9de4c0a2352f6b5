"""The wiring loop: the newest offered state wins, a report follows every applied state and
every change of a port's status, and a failing pass does not end the loop."""

import asyncio

from compute_node.network.model import NetworkState, PortReport, PortStatus, StatusReport
from compute_node.network.wiring import WiringLoop

WAIT = 10  # seconds, generous: the machine may be busy


class FakeWiring:
    def __init__(self):
        self.applied: list[int] = []
        self.status = PortStatus.DOWN
        self.fail = False
        self.passes: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def _passed(self, what):
        self.loop.call_soon_threadsafe(self.passes.put_nowait, what)

    def apply(self, state):
        if self.fail:
            self._passed("failed")
            raise RuntimeError("nft exploded")
        self.applied.append(state.revision)
        self._passed(state.revision)
        return StatusReport(state.revision, (PortReport("p1", self.status),))

    def refresh(self):
        self._passed("refresh")
        return StatusReport(self.applied[-1], (PortReport("p1", self.status),))


async def scenario():
    wiring = FakeWiring()
    loop = WiringLoop(wiring, interval=60)
    sent: asyncio.Queue = asyncio.Queue()
    task = asyncio.ensure_future(loop.run(sent.put))

    async def next_of(queue):
        return await asyncio.wait_for(queue.get(), WAIT)

    try:
        loop.offer(NetworkState(1))
        loop.offer(NetworkState(2))  # before the loop ran: 1 is never applied
        first = await next_of(sent)
        loop.poke()  # nothing changed: no report
        assert await next_of(wiring.passes) == 2
        assert await next_of(wiring.passes) == "refresh"
        assert sent.empty()
        wiring.status = PortStatus.ACTIVE  # the guest's tap appeared
        loop.poke()
        second = await next_of(sent)
        wiring.fail = True
        loop.offer(NetworkState(3))
        assert await next_of(wiring.passes) == "refresh"
        assert await next_of(wiring.passes) == "failed"
        wiring.fail = False
        loop.offer(NetworkState(4))
        third = await next_of(sent)
        return wiring.applied, [first, second, third]
    finally:
        task.cancel()


def test_newest_state_wins_and_reports_follow_changes():
    applied, sent = asyncio.run(scenario())
    assert applied == [2, 4]
    assert [(r.revision, r.ports[0].status) for r in sent] == [
        (2, PortStatus.DOWN),
        (2, PortStatus.ACTIVE),
        (4, PortStatus.ACTIVE),
    ]
