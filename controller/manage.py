"""`stratus-manage`: operator commands run on the controller host."""

import argparse
import importlib
import sys

from controller import logs, services
from controller.config import Config
from controller.db import migrate
from controller.db.database import Database


def open_database(config) -> Database:
    url = config.database.url or f"sqlite:///{config.controller.state_dir}/stratus.db"
    return Database(url, workers=1)


def _db_sync(config, args):
    db = open_database(config)
    try:
        done = migrate.sync(db.engine, args.version)
    finally:
        db.close()
    print("\n".join(done) if done else f"database schema is up to date (version {migrate.head()})")


def _db_version(config, args):
    db = open_database(config)
    try:
        with db.engine.connection_context():
            print(f"database: {migrate.current_version(db.engine)}, code: {migrate.head()}")
    finally:
        db.close()


def build_parser():
    parser = argparse.ArgumentParser(prog="stratus-manage", description=__doc__)
    parser.add_argument(
        "--config", help="TOML configuration file (default /etc/stratus/controller.toml)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    sync = db.add_parser("sync", help="apply the schema migrations (idempotent)")
    sync.add_argument("--version", type=int, help="migrate up or down to this version")
    sync.set_defaults(run=_db_sync)
    db.add_parser(
        "version", help="the schema version of the database and of the code"
    ).set_defaults(run=_db_version)
    for name in services.MANAGE_COMMANDS:
        importlib.import_module(name).add_commands(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logs.setup("warning")
    try:
        config = Config.load(args.config)
        args.run(config, args)
    except Exception as exc:  # noqa: BLE001 - operator errors are one line, with the reason
        print(f"stratus-manage: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
