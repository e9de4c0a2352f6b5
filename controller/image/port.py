"""The image area's one port: what other areas may ask of images (`app.image_port`).

- `lookup(image_id, project_id, is_admin)`: the compute API's view of an image a caller may
  see (an ImageInfo, or None), in a database worker;
- `boot_images(image_id)`: what a spawn boots from, in a database worker (the claim's
  transaction: one prepared statement per image);
- `open_data(image_id, chunk_size)`: the data a compute node fetches, from the store;
- `create_snapshot(...)`, `upload_snapshot(...)`, `kill_snapshot(...)`: a server's snapshot
  as Nova makes one (a queued image, its data from the node, killed if the node fails).
Nothing outside the image area reads its tables or its store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from peewee import JOIN

from controller.db.database import Database
from controller.db.prepared import Param, Prepared
from controller.image import images
from controller.image.access import Caller
from controller.image.models import Image, ImageProperty
from controller.image.upload import Uploader
from controller.image.vocabulary import ACTIVE, KILLED, PRIVATE, QUEUED, SAVING
from store_backends import Store, aio
from stratus_common import faults
from stratus_common.errors import FailedPrecondition, NotFound


@dataclass(frozen=True)
class ImageInfo:
    """What the compute API checks of an image a caller may boot."""

    id: str
    status: str  # Glance's: queued, saving, active, killed, deactivated, deleted
    size_bytes: int = 0
    virtual_size_bytes: int = 0
    min_ram_mb: int = 0
    min_disk_gb: int = 0
    architecture: str = ""
    hypervisor_type: str = ""


@dataclass(frozen=True)
class ImageRef:
    """An image's data as a node fetches and verifies it."""

    image_id: str
    disk_format: str = ""
    os_hash_value: str = ""  # sha512 of the data, hex; "" when unknown
    size: int = 0


@dataclass(frozen=True)
class BootImages:
    """The root disk's image and, for direct kernel boot, a kernel, a ramdisk and the kernel's
    command line (Glance's kernel_id, ramdisk_id and os_command_line properties)."""

    image: ImageRef
    kernel: ImageRef | None = None
    ramdisk: ImageRef | None = None
    kernel_cmdline: str = ""


# An image and its properties, one row per property (one row without any).
_WITH_PROPERTIES = Prepared(
    lambda: (
        Image.select(
            Image.id,
            Image.status,
            Image.deleted_at,
            Image.disk_format,
            Image.os_hash_value,
            Image.size,
            ImageProperty.name,
            ImageProperty.value,
        )
        .join(ImageProperty, JOIN.LEFT_OUTER, on=(ImageProperty.image == Image.id))
        .where(Image.id == Param("id"))
    )
)

_LOCATION = Prepared(
    lambda: Image.select(Image.status, Image.location).where(Image.id == Param("id"))
)


def _not_found(image_id: str, what: str = "not found") -> NotFound:
    return NotFound(f"image {image_id} {what}", reason="IMAGE_NOT_FOUND", image_id=image_id)


def _active(image_id: str) -> tuple[ImageRef, dict[str, str]]:
    """(reference, properties) of an active image."""
    rows = _WITH_PROPERTIES.execute(id=image_id).fetchall()
    if not rows or rows[0][2] is not None:
        raise _not_found(image_id)
    found_id, status, _deleted, disk_format, os_hash_value, size = rows[0][:6]
    if status != ACTIVE or os_hash_value is None:  # no hash: no data stored yet
        raise FailedPrecondition(
            f"image {image_id} is {status}, not active",
            reason="IMAGE_NOT_ACTIVE",
            image_id=image_id,
        )
    ref = ImageRef(found_id, disk_format or "raw", os_hash_value, size)
    return ref, {name: value for *_, name, value in rows if name is not None}


def _location(image_id: str) -> str:
    row = _LOCATION.execute(id=image_id).fetchone()
    if row is None or row[0] != ACTIVE or not row[1]:
        raise _not_found(image_id, "has no data")
    return row[1]


# Properties of a base image a snapshot does not inherit: Nova sets its own.
_NOT_INHERITED = {"image_type", "instance_uuid", "base_image_ref", "image_location"}


@dataclass(frozen=True)
class SnapshotRequest:
    """A server's snapshot as CreateServerImage asks for it."""

    project_id: str
    name: str
    instance_id: str
    base_image_id: str
    min_disk_gb: int
    metadata: dict[str, str]


class ImagePort:
    def __init__(self, db: Database, store: Store, settings=None):
        self.db = db
        self.store = store
        self.settings = settings  # ImageSection: limits of snapshots as of any image

    @staticmethod
    def lookup(image_id: str, project_id: str, is_admin: bool) -> ImageInfo | None:
        """The image as the caller may see it, or None (the compute API's ImageLookup)."""
        try:
            row = images.get(Caller(project_id, is_admin), image_id)
        except NotFound:
            return None
        return ImageInfo(
            id=row.id,
            status=row.status,
            size_bytes=row.size,
            virtual_size_bytes=row.virtual_size or 0,
            min_ram_mb=row.min_ram,
            min_disk_gb=row.min_disk,
            architecture=row.properties.get("architecture", ""),
            hypervisor_type=row.properties.get("hypervisor_type", ""),
        )

    @staticmethod
    def boot_images(image_id: str) -> BootImages:
        """NotFound (IMAGE_NOT_FOUND) or FailedPrecondition (IMAGE_NOT_ACTIVE) for an image,
        or a kernel or ramdisk it names, that cannot boot."""
        ref, props = _active(image_id)
        kernel, ramdisk = (
            _active(props[f"{role}_id"])[0] if props.get(f"{role}_id") else None
            for role in ("kernel", "ramdisk")
        )
        return BootImages(ref, kernel, ramdisk, props.get("os_command_line", ""))

    async def open_data(self, image_id: str, chunk_size: int) -> AsyncIterator[bytes]:
        """The image's data in chunks; NotFound (before any) unless it is active with data."""
        location = await self.db.run(_location, image_id)
        faults.point("image.serving")  # a node's fetch has begun
        return aio.get(self.store, location, 0, chunk_size)

    def create_snapshot(self, request: SnapshotRequest) -> str:
        """A queued qcow2 image of the server's project with Nova's snapshot properties and
        those of the image the server was built from (so a kernel_id, ramdisk_id or
        os_command_line still boots it); in the caller's write transaction."""
        base = Image.get_or_none(Image.id == request.base_image_id)
        inherited = {
            row.name: row.value
            for row in ImageProperty.select().where(ImageProperty.image == request.base_image_id)
            if row.name not in _NOT_INHERITED
        }
        properties = {
            **inherited,
            **request.metadata,
            "image_type": "snapshot",
            "instance_uuid": request.instance_id,
            "base_image_ref": request.base_image_id,
        }
        image = images.create(
            self.db,
            self.settings,
            Caller(request.project_id),
            {
                "name": request.name,
                "owner": request.project_id,
                "visibility": PRIVATE,
                "disk_format": "qcow2",
                "container_format": "bare",
                "min_disk": request.min_disk_gb,
                "min_ram": base.min_ram if base is not None else 0,
                "properties": properties,
            },
        )
        return str(image.id)

    async def upload_snapshot(self, image_id: str, chunks: AsyncIterator[bytes]) -> ImageRef:
        """Stores a queued snapshot's data as any upload is stored (inspected, hashed, within
        the size cap and the project's quota) and activates it; the image goes back to
        queued if the data fails."""
        uploader = Uploader(self.db, self.store, self.settings)
        image = await uploader.upload(Caller(None, is_admin=True), image_id, chunks)
        return ImageRef(image.id, image.disk_format, image.os_hash_value, image.size)

    @staticmethod
    def kill_snapshot(image_id: str) -> bool:
        """A snapshot whose node failed midway is killed (Glance's state for an image whose
        data never came), unless its data came after all."""
        return bool(
            Image.update(status=KILLED, upload_id=None, upload_heartbeat_at=None)
            .where(Image.id == image_id, Image.status.in_([QUEUED, SAVING]))
            .execute()
        )

    async def discard(self, image_id: str) -> None:
        """Deletes an image the compute area made for its own use (a resize's disk in
        transit), record and data; one already gone is no error."""
        try:
            location = await self.db.run(
                images.mark_deleted, self.db, Caller(None, is_admin=True), image_id
            )
        except NotFound:
            return
        if location:
            await asyncio.to_thread(self.store.delete, location)
