"""`stratus-manage image scrub`: give up dead uploads, remove their temporary data, and list
images whose data is missing from the store."""

import asyncio

from controller.image.config import ImageSection
from controller.image.reconcile import reconcile
from controller.image.service import open_store


def _scrub(config, args):
    from controller.manage import open_database

    db = open_database(config)
    try:
        report = asyncio.run(
            reconcile(db, open_store(config), config.section(ImageSection), check_data=True)
        )
    finally:
        db.close()
    for image_id in report.given_up:
        print(f"upload given up, image queued again: {image_id}")
    for path in report.scrubbed:
        print(f"removed temporary data: {path}")
    for image_id in report.missing:
        print(f"data missing: {image_id}")
    print(
        f"{len(report.given_up)} upload(s) given up, {len(report.scrubbed)} temporary file(s) "
        f"removed, {len(report.missing)} image(s) missing data"
    )


def add_commands(commands):
    image = commands.add_parser("image", help="image store maintenance").add_subparsers(
        dest="image_command", required=True
    )
    image.add_parser(
        "scrub", help="give up dead uploads, remove temporary data, report missing data"
    ).set_defaults(run=_scrub)
