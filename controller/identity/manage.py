"""`stratus-manage bootstrap` and `stratus-manage token ...`.

With [shared_secrets] store = database the key set lives in the database every replica
shares; `setup-keys` then moves this host's key repository there if it holds keys (tokens
issued before stay valid), else creates a new set.
"""

import contextlib
import os

from controller.identity import bootstrap
from controller.identity.config import IdentitySection
from controller.identity.service import key_repository
from controller.shared_secrets import wiring


@contextlib.contextmanager
def _database_key_ring(config):
    from controller.manage import open_database

    db = open_database(config)
    try:
        yield db, wiring.key_ring(config, config.section(IdentitySection).max_active_keys)
    finally:
        db.close()


def _repository_keys(config) -> dict[int, bytes]:
    """The keys of this host's key repository, if it holds any."""
    repository = key_repository(config)
    if not os.path.isdir(repository.path) or not repository.key_numbers():
        return {}
    return {n: repository.read_key(n) for n in repository.key_numbers()}


def _setup_keys(config, args):
    if wiring.in_database(config):
        existing = _repository_keys(config)
        with _database_key_ring(config) as (db, ring):
            created = db.call(ring.initialize, existing)
        what = "moved this host's Fernet keys" if existing else "created Fernet keys"
        print(f"{what} into the database" if created else "kept the database's Fernet keys")
        return
    keys = key_repository(config)
    created = keys.initialize()
    print(f"{'created' if created else 'kept existing'} Fernet keys in {keys.path}")


def _rotate_keys(config, args):
    if wiring.in_database(config):
        with _database_key_ring(config) as (db, ring):
            number = db.call(ring.rotate)
        print(f"rotated the Fernet keys in the database: new primary key {number}")
        return
    keys = key_repository(config)
    number = keys.rotate()
    print(f"rotated Fernet keys in {keys.path}: new primary key {number}")


def _bootstrap(config, args):
    from controller.manage import open_database

    db = open_database(config)
    try:
        report = db.call(
            bootstrap.run,
            config,
            admin_user=args.admin_user,
            admin_password=args.admin_password,
            admin_project=args.admin_project,
            region=args.region,
            public_url=args.public_url,
        )
    finally:
        db.close()
    print("\n".join(report.lines))


def add_commands(commands):
    boot = commands.add_parser(
        "bootstrap", help="admin project, user and roles, and the service catalog"
    )
    boot.add_argument("--admin-password", required=True)
    boot.add_argument("--admin-user", default="admin")
    boot.add_argument("--admin-project", default="admin")
    boot.add_argument("--region", default=None, help="default: [controller] region")
    boot.add_argument(
        "--public-url",
        default=None,
        help="URL clients use to reach the controller (default: [controller] public_url or listen)",
    )
    boot.set_defaults(run=_bootstrap)
    token = commands.add_parser("token", help="Fernet token keys").add_subparsers(
        dest="token_command", required=True
    )
    token.add_parser("setup-keys", help="create the key repository if it is empty").set_defaults(
        run=_setup_keys
    )
    token.add_parser(
        "rotate-keys", help="promote the staged key, stage a new one, drop the oldest"
    ).set_defaults(run=_rotate_keys)
