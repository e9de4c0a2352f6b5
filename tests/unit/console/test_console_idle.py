"""The proxy's idle timeout: a console connection with no byte either way ends; one with bytes
flowing does not."""

import asyncio

from controller.compute.consoleauth.config import ConsoleSection
from controller.console.proxy import ConsoleProxy
from stratus_common.console_channel import ConsoleChannel


async def nowhere(data: bytes, credit: int) -> None:
    pass


def proxy(idle_timeout: float) -> ConsoleProxy:
    settings = ConsoleSection(listen="127.0.0.1:0", idle_timeout=idle_timeout)
    return ConsoleProxy(settings, db=None, conductor=None)


def test_a_silent_connection_ends():
    channel = ConsoleChannel("c", nowhere, receive_window=100)
    watch = proxy(0.2)._idle_watch(channel)
    assert asyncio.run(asyncio.wait_for(watch, 30)) == "idle timeout"


def test_bytes_flowing_keep_a_connection_open():
    async def scenario():
        channel = ConsoleChannel("c", nowhere, receive_window=10_000)
        watch = asyncio.ensure_future(proxy(1.0)._idle_watch(channel))
        for _ in range(40):  # 2 s of a byte every 50 ms: twice the timeout, never idle
            channel.on_frame(b"x", 0)
            await asyncio.sleep(0.05)
        assert not watch.done()
        assert await asyncio.wait_for(watch, 30) == "idle timeout"  # then silence

    asyncio.run(scenario())
