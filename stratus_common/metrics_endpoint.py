"""The Prometheus endpoint both processes serve: `GET /metrics` on `[metrics] listen`.

Off by default: the figures name hosts and methods and the endpoint has no authentication, so
an operator opens it on purpose, on loopback or a management network.
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from stratus_common.config import ConfigError

log = logging.getLogger(__name__)


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9100` for IPv6) into its parts; ConfigError when it is not one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"[metrics] listen must be host:port (or empty: off), not {listen!r}")
    return host.strip("[]"), int(port)


def check_listen(listen: str) -> None:
    """Refuses a malformed `[metrics] listen` when the configuration is read, not later."""
    if listen:
        split_listen(listen)


def serve(listen: str) -> int | None:
    """Starts the endpoint in a daemon thread (a scrape never waits on the event loop, and a
    stuck loop still answers); returns the port it bound, None when `listen` is empty."""
    if not listen:
        return None
    host, port = split_listen(listen)
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as exc:  # taken, or not an address of this host: a configuration error
        raise ConfigError(f"[metrics] listen {listen}: {exc.strerror or exc}") from None
    bound = int(server.server_port)
    log.info("metrics endpoint serving on http://%s:%d/metrics", host, bound)
    return bound
