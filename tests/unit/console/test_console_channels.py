"""The controller's end of console channels on one node stream
(controller/compute/conductor/consoles.py)."""

import asyncio

import pytest

from controller.compute.conductor.consoles import ConsoleChannels
from stratus.node.v1 import node_service_pb2 as pb
from stratus_common.errors import NotFound, ResourceExhausted, Unavailable


class Stream:
    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(message)

    def opens(self):
        return [m.console_open for m in self.sent if m.WhichOneof("body") == "console_open"]


def opened(channel_id, **fields):
    return pb.ConnectRequest(console_opened=pb.ConsoleOpened(channel_id=channel_id, **fields))


async def open_one(channels, stream, window_bytes: int):
    """A channel the node has answered for with `window_bytes`."""
    opening = asyncio.ensure_future(channels.open("instance", "vnc", 5))
    await asyncio.sleep(0)
    channels.dispatch(opened(stream.opens()[-1].channel_id, window_bytes=window_bytes))
    return await opening


def test_bytes_right_behind_the_nodes_answer_are_kept():
    async def scenario():
        stream = Stream()
        channels = ConsoleChannels(stream.send, max_channels=4, window_bytes=1000)
        opening = asyncio.ensure_future(channels.open("instance", "vnc", 5))
        await asyncio.sleep(0)
        (request,) = stream.opens()
        assert (request.instance_id, request.kind) == ("instance", pb.CONSOLE_KIND_VNC)
        # The answer and the guest's first bytes, read in one go before open() resumes.
        assert channels.dispatch(opened(request.channel_id, window_bytes=10))
        frame = pb.ConsoleFrame(channel_id=request.channel_id, data=b"RFB 003.008\n")
        assert channels.dispatch(pb.ConnectRequest(console_frame=frame))
        channel = await opening
        assert await channel.read() == b"RFB 003.008\n"
        await channel.write(b"x" * 10)  # the node's window, no more, goes out at once

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "code, error",
    [
        ("INSTANCE_NOT_FOUND", NotFound),
        ("TOO_MANY_CONSOLES", ResourceExhausted),
        ("CONSOLE_UNAVAILABLE", Unavailable),
    ],
)
def test_a_nodes_refusal_is_the_callers_error_and_leaves_no_channel(code, error):
    async def scenario():
        stream = Stream()
        channels = ConsoleChannels(stream.send, max_channels=4, window_bytes=1000)
        opening = asyncio.ensure_future(channels.open("instance", "serial", 5))
        await asyncio.sleep(0)
        channels.dispatch(opened(stream.opens()[0].channel_id, error_code=code))
        with pytest.raises(error):
            await opening
        assert channels.channels == {}

    asyncio.run(scenario())


def test_the_per_node_limit_and_a_node_that_never_answers():
    async def scenario():
        stream = Stream()
        channels = ConsoleChannels(stream.send, max_channels=1, window_bytes=1000)
        first = asyncio.ensure_future(channels.open("a", "vnc", 0.2))
        await asyncio.sleep(0)
        with pytest.raises(ResourceExhausted):
            await channels.open("b", "vnc", 5)
        with pytest.raises(Unavailable):
            await first  # no answer in time: the node is told to drop it
        assert channels.channels == {}
        assert stream.sent[-1].WhichOneof("body") == "console_close"

    asyncio.run(scenario())


def test_a_node_sending_past_its_credit_breaks_the_stream():
    async def scenario():
        stream = Stream()
        channels = ConsoleChannels(stream.send, max_channels=4, window_bytes=8)
        channel = await open_one(channels, stream, 8)
        frame = pb.ConsoleFrame(channel_id=channel.channel_id, data=b"123456789")
        assert not channels.dispatch(pb.ConnectRequest(console_frame=frame))

    asyncio.run(scenario())


def test_the_streams_end_closes_every_channel_and_fails_every_opening():
    async def scenario():
        stream = Stream()
        channels = ConsoleChannels(stream.send, max_channels=4, window_bytes=100)
        channel = await open_one(channels, stream, 10)
        waiting = asyncio.ensure_future(channels.open("b", "vnc", 5))
        await asyncio.sleep(0)
        channels.close_all("the node's stream ended")
        assert await channel.read() == b""
        with pytest.raises(Unavailable):
            await waiting

    asyncio.run(scenario())
