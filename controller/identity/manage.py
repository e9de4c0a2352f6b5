"""`stratus-manage bootstrap` and `stratus-manage token ...`."""

from controller.identity import bootstrap
from controller.identity.service import key_repository


def _setup_keys(config, args):
    keys = key_repository(config)
    created = keys.initialize()
    print(f"{'created' if created else 'kept existing'} Fernet keys in {keys.path}")


def _rotate_keys(config, args):
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
