"""stratus-dashboard: serves the web dashboard with uvicorn and prints its URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from dashboard import app as application
from dashboard.config import load
from stratus_common.config import ConfigError


def bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    return sock


def url_of(sock: socket.socket, tls: bool) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stratus-dashboard", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="TOML file (default /etc/stratus/dashboard.toml)"
    )
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
        app = application.build(config)
    except (ConfigError, OSError) as error:
        print(f"stratus-dashboard: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    tls = bool(config.tls_cert_file)
    sock = bind(config.listen)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=config.log_level,
            ssl_certfile=config.tls_cert_file or None,
            ssl_keyfile=config.tls_key_file or None,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )
    print(f"stratus-dashboard serving at {url_of(sock, tls)}", flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
