"""Fixtures of the CLI's unit tests: a real grpc.aio server on a loopback ephemeral port,
running on its own thread and event loop, so that the client under test (synchronous, as
the CLI is) talks to it over a real socket."""
import asyncio
import threading

import grpc
import pytest

SERVICE = "test.v1.Tiny"


class TinyServer:
    """Serves async handlers under /test.v1.Tiny/<Name>; requests and responses are bytes."""

    def __init__(self, handlers: dict):
        self.handlers = handlers
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None
        self.port = None

    def start(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)
        return f"127.0.0.1:{self.port}"

    async def _start(self):
        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            SERVICE, {name: kind(fn) for name, (kind, fn) in self.handlers.items()})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()

    def stop(self):
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def tiny_server():
    """`tiny_server({"Name": (grpc.unary_unary_rpc_method_handler, async_fn)})` -> target."""
    started = []

    def start(handlers):
        server = TinyServer(handlers)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()

