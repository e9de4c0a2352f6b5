"""Fixtures of the CLI's unit tests: a real grpc.aio server on a loopback ephemeral port,
running on its own thread and event loop, so that the client under test (synchronous, as
the CLI is) talks to it over a real socket."""

import asyncio
import threading

import grpc
import pytest

from tests.unit.cli.building_compute import compute_server  # noqa: F401 - a fixture

SERVICE = "test.v1.Tiny"


class AioServer:
    """A grpc.aio server whose services `register(server)` adds."""

    def __init__(self, register):
        self.register = register
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    def start(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)

    async def _start(self) -> str:
        self.server = grpc.aio.server()
        self.register(self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return f"127.0.0.1:{port}"

    def stop(self):
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def aio_server():
    """`aio_server(register)` starts a server, `register(server)` adding its services;
    returns its address."""
    started = []

    def start(register):
        started.append(AioServer(register))
        return started[-1].start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def tiny_server(aio_server):
    """`tiny_server({"Name": (grpc.unary_unary_rpc_method_handler, async_fn)})` serves
    /test.v1.Tiny/Name with raw bytes in and out; returns the address."""

    def start(handlers):
        return aio_server(
            lambda server: server.add_generic_rpc_handlers(
                [
                    grpc.method_handlers_generic_handler(
                        SERVICE, {name: kind(fn) for name, (kind, fn) in handlers.items()}
                    )
                ]
            )
        )

    return start
