"""The node listener: the controller's mutual-TLS gRPC server for compute nodes.

Every call must come with a client certificate chained to the controller's CA (grpc refuses
anything else during the handshake: no certificate, another CA, an expired one, plain
text). Then, before the handler runs, the certificate's serial is looked up: unknown or
revoked certificates get UNAUTHENTICATED. While the call runs, its verified identity is
available to the handler through `current_peer()`; if the certificate is revoked, the call
is ended at once with UNAUTHENTICATED (see controller/ca/streams.py).

Revocations reach the listener in two ways: at once from this process's CertificateService,
and from a periodic sweep of the database, for revocations made by another controller
replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

import grpc

from controller.ca.certificates import CertificateService
from controller.ca.mtls import PeerIdentity, peer_identity
from controller.ca.records import CertificateRecord
from controller.ca.streams import OpenCall, StreamRegistry
from controller.logs import fields
from stratus_common.errors import StratusError, Unavailable

LOG = logging.getLogger(__name__)

_CURRENT_CALL: contextvars.ContextVar[OpenCall] = contextvars.ContextVar("node_call")

RevocationCallback = Callable[[PeerIdentity], Awaitable[None] | None]
SWEEP_INTERVAL = 5.0
# Replicas' clocks differ a little; the sweep looks back this much further than its last run.
SWEEP_OVERLAP = datetime.timedelta(seconds=60)


def current_peer() -> PeerIdentity:
    """The verified identity of the node behind the current call on the node listener.

    Its `host_name` is the only host this call may report or act for.
    """
    try:
        return _CURRENT_CALL.get().identity
    except LookupError:
        raise RuntimeError("current_peer() called outside a node listener call") from None


class PeerIdentityInterceptor(grpc.aio.ServerInterceptor):
    """Admits a call only from a known, unrevoked client certificate, and tracks it."""

    def __init__(self, service: CertificateService, registry: StreamRegistry, run_blocking):
        self._service = service
        self._registry = registry
        self._run = run_blocking

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return _wrap(handler, self._admit, handler_call_details.method)

    @contextlib.asynccontextmanager
    async def _admit(self, context: grpc.aio.ServicerContext, method: str):
        identity = peer_identity(context.auth_context())
        if identity is None:
            LOG.warning("refused %s from %s: no client certificate", method, context.peer())
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "a client certificate from this controller's CA is required",
            )
        # Track before checking: a revocation landing during the check still finds the call.
        with self._registry.track(identity, context) as call:
            try:
                await self._run(self._service.check_peer, identity.host_name, identity.serial)
            except Unavailable as error:  # the database is down: no verdict on the node
                LOG.warning(
                    "could not check certificate %s of host %s: %s",
                    identity.serial,
                    identity.host_name,
                    error.reason,
                )
                await context.abort(grpc.StatusCode.UNAVAILABLE, error.message)
            except StratusError as error:
                LOG.warning(
                    "refused %s from host %s (certificate %s): %s",
                    method,
                    identity.host_name,
                    identity.serial,
                    error.reason,
                )
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, error.message)
            except Exception:  # e.g. the database is down: never UNKNOWN, never admitted
                LOG.exception(
                    "could not check certificate %s of host %s", identity.serial, identity.host_name
                )
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    "the controller cannot check certificates now; retry",
                )
            token = _CURRENT_CALL.set(call)
            try:
                yield call
            finally:
                _CURRENT_CALL.reset(token)


def _wrap(handler: grpc.RpcMethodHandler, admit, method: str) -> grpc.RpcMethodHandler:
    """The same handler, run inside `admit(context, method)`."""
    if handler.request_streaming and handler.response_streaming:
        behavior, factory = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        behavior, factory = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        behavior, factory = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, factory = handler.unary_unary, grpc.unary_unary_rpc_method_handler

    if inspect.isasyncgenfunction(behavior):

        async def wrapped(request, context):
            async with admit(context, method):
                async for response in behavior(request, context):
                    yield response
    else:

        async def wrapped(request, context):
            async with admit(context, method):
                return await behavior(request, context)

    return factory(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class NodeListener:
    """The mutual-TLS server. Register services with `add_registrar`, then `start()`.

    `run_blocking(fn, *args)` runs the CA's (database) calls off the event loop; the
    controller passes its `db.run`.
    """

    def __init__(
        self,
        service: CertificateService,
        credentials: grpc.ServerCredentials,
        *,
        address: str = "[::]:0",
        sweep_interval: float = SWEEP_INTERVAL,
        run_blocking=None,
        options=(),
    ):
        self._service = service
        self._run = run_blocking or asyncio.to_thread
        self._registry = StreamRegistry()
        self._callbacks: list[RevocationCallback] = []
        self._sweep_interval = sweep_interval
        self._swept_at = service.clock()
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._interceptors = [PeerIdentityInterceptor(service, self._registry, self._run)]
        self._options = list(options)
        self._registrars: list[Callable[[grpc.aio.Server], None]] = []
        self.server: grpc.aio.Server | None = None
        self._address = address
        self._credentials = credentials
        self.port: int | None = None
        service.add_revocation_listener(self._on_revoked)

    def open_serials(self) -> set[str]:
        """Serials of the client certificates with calls open now."""
        return self._registry.open_serials()

    def add_revocation_callback(self, callback: RevocationCallback) -> None:
        """Call `callback(identity)` for each open call cut by a revocation."""
        self._callbacks.append(callback)

    def add_registrar(self, registrar: Callable[[grpc.aio.Server], None]) -> None:
        """`registrar(server)` adds services to the server when it is built, at `start()`."""
        self._registrars.append(registrar)

    async def start(self) -> int:
        # A grpc.aio server belongs to the loop it is made on: make it on the serving loop.
        self._loop = asyncio.get_running_loop()
        self.server = grpc.aio.server(interceptors=self._interceptors, options=self._options)
        for registrar in self._registrars:
            registrar(self.server)
        self.port = self.server.add_secure_port(self._address, self._credentials)
        if not self.port:
            raise OSError(f"the node listener cannot listen on {self._address}")
        await self.server.start()
        if self._sweep_interval > 0:
            self._spawn(self._sweep_forever())
        LOG.info(
            "node listener serving",
            extra=fields(listen=self._address, port=self.port, tls="mutual"),
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            await self.server.stop(grace)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_revoked(self, records: Sequence[CertificateRecord]) -> None:
        # Called by the CertificateService, possibly from a worker thread.
        if self._loop is None or self._loop.is_closed():
            return
        serials = [record.serial for record in records]
        self._loop.call_soon_threadsafe(lambda: self._spawn(self.cut(serials)))

    async def cut(self, serials: Iterable[str]) -> int:
        """End every open call made with one of `serials`; return how many were cut."""
        serials = set(serials)
        cut_calls = [call for serial in serials for call in self._registry.calls_of(serial)]
        count = await self._registry.cut(serials)
        for call in cut_calls:
            for callback in self._callbacks:
                try:
                    result = callback(call.identity)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    LOG.exception("revocation callback failed")
        return count

    async def sweep_once(self) -> int:
        """Cut open calls whose certificates were revoked elsewhere since the last sweep."""
        since = self._swept_at - SWEEP_OVERLAP
        self._swept_at = self._service.clock()
        revoked = await self._run(self._service.repository.list_revoked, revoked_since=since)
        open_serials = self._registry.open_serials()
        return await self.cut(r.serial for r in revoked if r.serial in open_serials)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep_once()
            except Exception:  # a database hiccup must not end the sweeping
                LOG.exception("revocation sweep failed; retrying")
