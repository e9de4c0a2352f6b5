"""Uploading an image's data: once, streamed, inspected and limited as it flows, all or nothing.

    queued --(begin: compare-and-set, one upload wins)--> saving --(activate)--> active
                 ^                                           |
                 +------------- restore (any failure) -------+

While SAVING, the record holds the upload's id and a heartbeat the uploading controller
refreshes; reconcile.py gives up uploads whose heartbeat stopped (a crashed controller).
Data is committed to the store only after every check passed, and the record becomes ACTIVE
only if it still belongs to this upload: if the image was deleted meanwhile, the data goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

from controller.db.database import locked
from controller.db.queries import utcnow
from controller.image import metadata
from controller.image.access import Caller, get_visible
from controller.image.images import usage
from controller.image.models import Image
from controller.image.vocabulary import ACTIVE, DEACTIVATED, DISK_CONTAINERS, KILLED, QUEUED, SAVING
from store_backends import BackendError, Duplicate, StorageFull, Store, StoredImage, Verifier, aio
from store_backends import NotFound as StoreNotFound
from stratus_common.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from stratus_common.image_inspection import ImageInspector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expected:
    """What the client says about its data; every given value is checked."""

    size: int | None = None
    os_hash_value: str = ""
    checksum: str = ""

    @property
    def checks_completeness(self) -> bool:
        """A short stream fails the size or digest check: it cannot end ACTIVE."""
        return self.size is not None or bool(self.os_hash_value or self.checksum)


@dataclass(frozen=True)
class Plan:
    owner: str
    disk_format: str
    container_format: str
    limit: int
    quota_bound: bool  # the limit comes from the project's quota, not the size cap


def _too_large(plan: Plan, size: int | None = None) -> ResourceExhausted:
    if plan.quota_bound:
        return ResourceExhausted(
            "the image does not fit in the project's storage quota",
            reason="STORAGE_QUOTA_EXCEEDED",
            limit=plan.limit,
        )
    return ResourceExhausted(
        f"images are limited to {plan.limit} bytes",
        reason="IMAGE_SIZE_LIMIT_EXCEEDED",
        limit=plan.limit,
    )


# -- the record's side (plain functions, run in the database's worker threads) ----------------


def begin(db, settings, caller: Caller, image_id: str, upload_id: str, size: int | None) -> Plan:
    with db.write_transaction():
        image = get_visible(image_id, caller, for_update=True)
        if image.status != QUEUED:
            reason, text = {
                SAVING: ("IMAGE_UPLOAD_IN_PROGRESS", "data is being uploaded already"),
                ACTIVE: ("IMAGE_DATA_EXISTS", "data can be uploaded only once"),
                DEACTIVATED: ("IMAGE_DATA_EXISTS", "data can be uploaded only once"),
                KILLED: ("IMAGE_KILLED", "a killed image can only be deleted"),
            }[image.status]
            raise FailedPrecondition(
                f"image {image_id}: {text}", reason=reason, image_id=image_id, status=image.status
            )
        if not (image.disk_format and image.container_format):
            raise FailedPrecondition(
                "set disk_format and container_format before uploading data",
                reason="IMAGE_FORMATS_NOT_SET",
                image_id=image_id,
            )
        limit, quota_bound = settings.image_size_cap, False
        if settings.project_storage_quota:
            room = max(settings.project_storage_quota - usage(image.owner), 0)
            if room < limit:
                limit, quota_bound = room, True
        plan = Plan(image.owner, image.disk_format, image.container_format, limit, quota_bound)
        if size is not None and size > limit:
            raise _too_large(plan)
        # updated_at is left alone: a failed upload leaves the record exactly as it was.
        Image.update(status=SAVING, upload_id=upload_id, upload_heartbeat_at=utcnow()).where(
            Image.id == image_id
        ).execute()
    return plan


def heartbeat(image_id: str, upload_id: str) -> None:
    Image.update(upload_heartbeat_at=utcnow()).where(
        (Image.id == image_id) & (Image.upload_id == upload_id)
    ).execute()


class _Lost(Exception):
    """The record no longer belongs to this upload (deleted, or given up as stale)."""


def activate(
    db, settings, image_id: str, upload_id: str, stored: StoredImage, virtual_size: int | None
) -> Image:
    with db.write_transaction():
        found = locked(Image.select().where(Image.id == image_id))
        image = found[0] if found else None
        if image is None or image.status != SAVING or image.upload_id != upload_id:
            raise _Lost()
        quota = settings.project_storage_quota
        if quota and usage(image.owner, excluding=image_id) + stored.size > quota:
            raise ResourceExhausted(
                "the image does not fit in the project's storage quota",
                reason="STORAGE_QUOTA_EXCEEDED",
                limit=quota,
            )
        image.status, image.size, image.virtual_size = ACTIVE, stored.size, virtual_size
        image.checksum, image.os_hash_algo = stored.checksum, stored.os_hash_algo
        image.os_hash_value, image.location = stored.os_hash_value, stored.location
        image.upload_id = image.upload_heartbeat_at = None
        image.updated_at = utcnow()
        image.save()
    return metadata.attach([image])[0]


def restore(image_id: str, upload_id: str, status: str = QUEUED) -> bool:
    """Gives the image back (QUEUED, or KILLED when data could not be removed) if this
    upload still holds it."""
    changes = {"status": status, "upload_id": None, "upload_heartbeat_at": None}
    if status != QUEUED:
        changes["updated_at"] = utcnow()
    return bool(
        Image.update(**changes)
        .where((Image.id == image_id) & (Image.upload_id == upload_id) & (Image.status == SAVING))
        .execute()
    )


# -- the data's side ----------------------------------------------------------------------------


class UploadVerifier(Verifier):
    """Size limit, format inspection and the client's expectations, on every chunk."""

    def __init__(self, plan: Plan, expected: Expected):
        self.plan, self.expected = plan, expected
        # Archives (ova, docker...) hold anything but must not be a disk image themselves.
        inspected_as = plan.disk_format if plan.container_format in DISK_CONTAINERS else "raw"
        self.inspector = ImageInspector(inspected_as)
        self.virtual_size: int | None = None
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.plan.limit:
            raise _too_large(self.plan)
        if self.expected.size is not None and self._size > self.expected.size:
            raise self._size_mismatch()
        self.inspector.feed(chunk)

    def finish(self, size: int, checksum: str, os_hash_value: str) -> None:
        inspection = self.inspector.finish()
        if self.plan.container_format in DISK_CONTAINERS:
            self.virtual_size = inspection.virtual_size
        if self.expected.size is not None and size != self.expected.size:
            raise self._size_mismatch()
        if self.expected.os_hash_value and self.expected.os_hash_value.lower() != os_hash_value:
            raise InvalidArgument(
                "expected_os_hash_value",
                "the data does not have this sha512 digest",
                reason="IMAGE_HASH_MISMATCH",
            )
        if self.expected.checksum and self.expected.checksum.lower() != checksum:
            raise InvalidArgument(
                "expected_checksum",
                "the data does not have this md5 digest",
                reason="IMAGE_CHECKSUM_MISMATCH",
            )

    def _size_mismatch(self) -> InvalidArgument:
        return InvalidArgument(
            "size",
            f"the data is not the {self.expected.size} bytes announced",
            reason="IMAGE_SIZE_MISMATCH",
        )


@contextlib.contextmanager
def store_errors():
    """The store's typed errors as the client should see them."""
    try:
        yield
    except StorageFull:
        raise ResourceExhausted("the image store is full", reason="STORAGE_FULL") from None
    except Duplicate:
        raise Aborted(
            "another upload of this image stored its data first; retry",
            reason="IMAGE_UPLOAD_CONFLICT",
        ) from None
    except BackendError as exc:
        log.error("image store failed: %s", exc)
        raise Unavailable(
            "the image store is unavailable; retry later", reason="STORE_UNAVAILABLE"
        ) from None


class Uploader:
    def __init__(self, db, store: Store, settings):
        self.db, self.store, self.settings = db, store, settings
        self.heartbeat_interval = max(settings.upload_stale_seconds / 5, 0.05)

    async def upload(
        self,
        caller: Caller,
        image_id: str,
        chunks: AsyncIterable[bytes],
        expected: Expected = Expected(),
    ) -> Image:
        """Stores the data of a QUEUED image (policy already enforced); returns the ACTIVE image."""
        upload_id = str(uuid.uuid4())
        # Work handed to a thread ends as it ends even if this task is cancelled (a client
        # gone mid-stream): every step that changes something is settled, then acted upon.
        plan = await aio.settle(
            self.db.run(begin, self.db, self.settings, caller, image_id, upload_id, expected.size)
        )
        keepalive = asyncio.create_task(self._keep_alive(image_id, upload_id))
        try:
            verifier = UploadVerifier(plan, expected)
            with store_errors():
                await self._clear_debris(image_id)
                stored = await aio.add(self.store, image_id, chunks, verifier)
        except BaseException:
            keepalive.cancel()
            # aio.add returns only once its data is gone: the image looks empty only then.
            await aio.settle(self.db.run(restore, image_id, upload_id))
            raise
        keepalive.cancel()
        try:
            return await aio.settle(
                self.db.run(
                    activate,
                    self.db,
                    self.settings,
                    image_id,
                    upload_id,
                    stored,
                    verifier.virtual_size,
                )
            )
        except BaseException as exc:  # not activated: the data is no image's
            await aio.settle(self._discard(image_id, upload_id, stored.location))
            if isinstance(exc, _Lost):
                raise NotFound(
                    f"image {image_id} was deleted during the upload",
                    reason="IMAGE_NOT_FOUND",
                    image_id=image_id,
                ) from None
            raise

    async def _clear_debris(self, image_id: str) -> None:
        """Data under the name of an image that holds none is left from a crash between
        storing and activating: this upload owns the image now, so it goes."""
        location = self.store.location_for(image_id)
        if await asyncio.to_thread(self.store.exists, location):
            log.warning(
                "removing data left by an interrupted upload",
                extra={"fields": {"image_id": image_id}},
            )
            await aio.settle(asyncio.to_thread(self.store.delete, location))

    async def _discard(self, image_id: str, upload_id: str, location: str) -> None:
        try:
            await asyncio.to_thread(self.store.delete, location)
            status = QUEUED
        except StoreNotFound:
            status = QUEUED
        except Exception:  # the data stays: the image must not look empty
            log.exception(
                "cannot remove the data of a failed upload",
                extra={"fields": {"image_id": image_id}},
            )
            status = KILLED
        await self.db.run(restore, image_id, upload_id, status)

    async def _keep_alive(self, image_id: str, upload_id: str) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.db.run(heartbeat, image_id, upload_id)
            except Exception:  # a missed beat is retried at the next one
                log.warning("cannot refresh the upload's heartbeat", exc_info=True)
