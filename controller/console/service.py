"""Wires the console proxy into the controller when `[console] listen` is set: it serves on
its own port in the controller's process, beside the node streams it relays through
(docs/adr/0012-console-proxy.md)."""

from __future__ import annotations

from controller.compute.consoleauth.config import ConsoleSection
from controller.console.proxy import ConsoleProxy


def setup(app):
    settings = app.config.section(ConsoleSection)
    if not settings.listen:
        return
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ValueError("[console] tls_cert_file and tls_key_file go together")
    proxy = ConsoleProxy(settings, app.db, app.compute_conductor)
    app.console_proxy = proxy

    async def start(_app):
        await proxy.start()

    async def stop(_app):
        await proxy.stop()

    app.on_start.append(start)
    app.on_stop.append(stop)
