"""`stratus-controller`: the controller process."""
import argparse
import asyncio
import logging
import sys

from controller import logs
from controller.config import Config

log = logging.getLogger("stratus.controller")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="stratus-controller", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (default /etc/stratus/controller.toml)")
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config)
        logs.setup(config.logging.level, config.logging.format)
        from controller.app import App
        from controller.server import serve
        app = App(config)
    except Exception as exc:  # noqa: BLE001 - start-up errors are one clear line, not a traceback
        print(f"stratus-controller: {exc}", file=sys.stderr)
        return 1
    log.info("controller starting", extra=logs.fields(config=config.source, database=app.db.dialect))
    try:
        asyncio.run(serve(app))
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
