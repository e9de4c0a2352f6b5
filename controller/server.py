"""The public listener: the areas' services behind the call pipeline, health and reflection."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controller.rpc import request_checks
from controller.rpc.pipeline import Pipeline, add_secured_service
from stratus_common import metrics_endpoint, systemd

log = logging.getLogger(__name__)


def channel_options(max_message_bytes: int, stream_window_bytes: int):
    """The public listener's. Flow control: a stream's window stays `stream_window_bytes`
    (grpc's bandwidth-delay probing would grow it to many MiB per upload, each held in memory
    while the store writes more slowly than the client sends)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", stream_window_bytes),
        ("grpc.so_reuseport", 0),
    ]


class ControllerServer:
    def __init__(self, app):
        self.app = app
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> int:
        app, ctl = self.app, self.app.config.controller
        self.server = grpc.aio.server(
            options=channel_options(ctl.max_message_bytes, ctl.stream_window_bytes)
        )
        pipeline = Pipeline(
            app.authenticate,
            app.enforcer,
            check=request_checks.check,
            page_tokens=app.page_tokens,
            stream_recheck_seconds=ctl.stream_recheck_seconds,
        )
        names = []
        for reg in app.public_services:
            add_secured_service(self.server, pipeline, reg.servicer, reg.descriptor)
            names.append(reg.descriptor.full_name)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        if ctl.tls_cert_file:
            # Read once at start-up, before the server takes any call.
            with open(ctl.tls_key_file, "rb") as key, open(ctl.tls_cert_file, "rb") as cert:  # noqa: ASYNC230
                creds = grpc.ssl_server_credentials([(key.read(), cert.read())])
            self.port = self.server.add_secure_port(ctl.listen, creds)
        else:
            self.port = self.server.add_insecure_port(ctl.listen)
        if not self.port:
            raise OSError(f"cannot listen on {ctl.listen}")
        for hook in app.on_start:
            await hook(app)
        await self.server.start()
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks = [
            asyncio.create_task(job(), name=getattr(job, "__name__", "background"))
            for job in app.background
        ]
        log.info(
            "public listener serving",
            extra={
                "fields": {
                    "listen": ctl.listen,
                    "port": self.port,
                    "tls": bool(ctl.tls_cert_file),
                    "services": len(names),
                }
            },
        )
        return self.port

    async def stop(self, grace: float | None = None):
        """Stops taking calls, lets in-flight ones finish within `grace` seconds, then stops the
        rest."""
        grace = self.app.config.controller.shutdown_grace if grace is None else grace
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.stop(grace)
        for hook in self.app.on_stop:
            await hook(self.app)
        log.info("public listener stopped")


async def serve(app):
    """Runs until SIGTERM or SIGINT, then shuts down gracefully. Under systemd (Type=notify)
    it says READY=1 once both listeners and the metrics endpoint accept connections, feeds the
    watchdog from this loop, and says STOPPING=1 when it begins to stop."""
    metrics_endpoint.serve(app.config.metrics.listen)
    server = ControllerServer(app)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = systemd.start_watchdog()
    systemd.notify(systemd.READY, f"STATUS=serving on {app.config.controller.listen}")
    await stop.wait()
    systemd.notify(systemd.STOPPING, "STATUS=finishing calls in flight")
    log.info("shutting down: finishing calls in flight")
    await server.stop()
    if watchdog is not None:
        watchdog.cancel()
