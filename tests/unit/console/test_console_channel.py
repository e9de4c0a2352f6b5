"""The console channel's flow control (stratus_common/console_channel.py): no side sends past
the credit it was granted, credit comes back only once bytes are passed on, and a peer that
oversteps is caught."""

import asyncio

import pytest

from stratus_common.console_channel import ChannelClosed, ConsoleChannel, CreditExceeded


class Wire:
    """What one end sent: (data, credit) frames."""

    def __init__(self):
        self.frames = []

    async def send(self, data: bytes, credit: int) -> None:
        self.frames.append((data, credit))

    @property
    def data(self) -> bytes:
        return b"".join(d for d, _ in self.frames)

    @property
    def credit(self) -> int:
        return sum(c for _, c in self.frames)


def test_a_writer_sends_only_what_it_was_granted_then_waits():
    async def scenario():
        wire = Wire()
        end = ConsoleChannel("c", wire.send, receive_window=100, send_window=10, max_frame=4)
        writing = asyncio.ensure_future(end.write(b"x" * 25))
        await asyncio.sleep(0.01)
        assert wire.data == b"x" * 10  # in frames of at most 4
        assert max(len(d) for d, _ in wire.frames) == 4
        assert not writing.done()
        end.on_frame(b"", 15)  # the peer passed on what it got: more credit
        await asyncio.wait_for(writing, 5)
        assert wire.data == b"x" * 25

    asyncio.run(scenario())


def test_credit_goes_back_in_batches_once_bytes_are_delivered():
    async def scenario():
        wire = Wire()
        end = ConsoleChannel("c", wire.send, receive_window=100)
        end.on_frame(b"a" * 20, 0)
        end.on_frame(b"b" * 40, 0)
        assert end.buffered == 60
        await end.delivered(len(await end.read()))
        assert wire.credit == 0  # under a quarter window: not yet
        await end.delivered(len(await end.read()))
        assert wire.credit == 60
        assert end.buffered == 0

    asyncio.run(scenario())


def test_a_peer_sending_past_its_credit_is_caught_and_nothing_is_buffered():
    async def scenario():
        end = ConsoleChannel("c", Wire().send, receive_window=10)
        end.on_frame(b"x" * 10, 0)
        with pytest.raises(CreditExceeded):
            end.on_frame(b"y", 0)
        assert end.buffered == 10

    asyncio.run(scenario())


def test_closing_wakes_a_reader_and_a_writer():
    async def scenario():
        end = ConsoleChannel("c", Wire().send, receive_window=10, send_window=0)
        reading = asyncio.ensure_future(end.read())
        writing = asyncio.ensure_future(end.write(b"data"))
        await asyncio.sleep(0.01)
        end.on_close("gone")
        assert await asyncio.wait_for(reading, 5) == b""
        with pytest.raises(ChannelClosed, match="gone"):
            await asyncio.wait_for(writing, 5)

    asyncio.run(scenario())


def test_bytes_read_before_the_close_are_still_delivered():
    async def scenario():
        end = ConsoleChannel("c", Wire().send, receive_window=10)
        end.on_frame(b"last", 0)
        end.on_close("done")
        assert await end.read() == b"last"
        assert await end.read() == b""

    asyncio.run(scenario())
