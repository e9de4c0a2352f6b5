"""`stratus-controller`: the controller process."""

import argparse
import asyncio
import logging
import sys

from controller import logs, memory
from controller.config import Config, ConfigError

log = logging.getLogger("stratus.controller")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="stratus-controller", description=__doc__)
    parser.add_argument(
        "--config", help="TOML configuration file (default /etc/stratus/controller.toml)"
    )
    args = parser.parse_args(argv)
    memory.reuse_transfer_buffers()
    try:
        config = Config.load(args.config)
        loop_factory = event_loop_factory(config.controller.event_loop)
        logs.setup(config.logging.level, config.logging.format)
        from controller.app import App
        from controller.server import serve

        app = App(config)
    except Exception as exc:  # noqa: BLE001 - start-up errors are one clear line, not a traceback
        print(f"stratus-controller: {exc}", file=sys.stderr)
        return 1
    log.info(
        "controller starting",
        extra=logs.fields(
            config=config.source, database=app.db.dialect, event_loop=config.controller.event_loop
        ),
    )
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(app))
    except ConfigError as exc:  # found while starting (an address that cannot be bound)
        print(f"stratus-controller: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()
    return 0


def event_loop_factory(event_loop: str):
    """`[controller] event_loop`: what makes the controller's loop."""
    if event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if event_loop == "asyncio":
        return asyncio.new_event_loop
    raise ConfigError(f'[controller] event_loop must be "uvloop" or "asyncio", not {event_loop!r}')


if __name__ == "__main__":
    sys.exit(main())
