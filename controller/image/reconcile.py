"""Self-repair: uploads whose controller died, temporary data left behind, data gone missing.

Runs at start and then every `scrub_interval` seconds. An upload is given up when its heartbeat
is older than `upload_stale_seconds` (uploading controllers refresh it far more often), so
replicas sharing one database and one store never step on each other's uploads.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from dataclasses import dataclass, field

from controller.db.queries import utcnow
from controller.image.models import Image
from controller.image.upload import restore
from controller.image.vocabulary import ACTIVE, DEACTIVATED, KILLED, QUEUED, SAVING
from controller.logs import fields
from store_backends import NotFound, Store

log = logging.getLogger(__name__)


@dataclass
class Report:
    given_up: list[str] = field(default_factory=list)  # image ids queued again
    scrubbed: list[str] = field(default_factory=list)  # temporary files removed
    missing: list[str] = field(default_factory=list)  # images whose data is gone


def stale_uploads(stale_seconds: float) -> list[tuple[str, str]]:
    cutoff = utcnow() - datetime.timedelta(seconds=stale_seconds)
    query = Image.select(Image.id, Image.upload_id).where(
        (Image.status == SAVING)
        & ((Image.upload_heartbeat_at < cutoff) | Image.upload_heartbeat_at.is_null())
    )
    return [(row.id, row.upload_id) for row in query]


def images_with_data() -> list[tuple[str, str]]:
    query = Image.select(Image.id, Image.location).where(Image.status.in_([ACTIVE, DEACTIVATED]))
    return [(row.id, row.location) for row in query]


async def give_up_stale_uploads(db, store: Store, stale_seconds: float) -> list[str]:
    given_up = []
    for image_id, upload_id in await db.run(stale_uploads, stale_seconds):
        status = QUEUED
        try:  # while the dead upload still holds the image, nobody else can be writing its data
            await asyncio.to_thread(store.delete, store.location_for(image_id))
        except NotFound:
            pass
        except Exception:
            log.exception(
                "cannot remove the data of a dead upload", extra=fields(image_id=image_id)
            )
            status = KILLED
        if await db.run(restore, image_id, upload_id, status):
            log.warning(
                "gave up an upload whose controller stopped",
                extra=fields(image_id=image_id, status=status),
            )
            given_up.append(image_id)
    return given_up


async def find_missing_data(db, store: Store) -> list[str]:
    missing = []
    for image_id, location in await db.run(images_with_data):
        if not location or not await asyncio.to_thread(store.exists, location):
            missing.append(image_id)
    return missing


async def reconcile(db, store: Store, settings, check_data: bool = False) -> Report:
    report = Report()
    report.given_up = await give_up_stale_uploads(db, store, settings.upload_stale_seconds)
    report.scrubbed = await asyncio.to_thread(store.scrub, settings.upload_stale_seconds)
    for path in report.scrubbed:
        log.info("removed temporary data of an interrupted upload", extra=fields(path=path))
    if check_data:
        report.missing = await find_missing_data(db, store)
        for image_id in report.missing:
            log.error("image data is missing from the store", extra=fields(image_id=image_id))
    return report


async def run_periodically(db, store: Store, settings) -> None:
    while True:
        await asyncio.sleep(settings.scrub_interval)
        try:
            await reconcile(db, store, settings)
        except Exception:  # try again at the next round
            log.exception("image reconciliation failed")
