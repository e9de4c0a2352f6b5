"""What the conductor needs of the image registry: image references for spawn commands, and
the bytes a node may fetch (only for instances assigned to it)."""
from __future__ import annotations

from collections.abc import AsyncIterator

from peewee import JOIN

from controller.compute.conductor import outbox
from controller.compute.conductor.models import NodeCommand
from controller.db.prepared import Param, Prepared
from controller.image.models import Image, ImageProperty
from stratus_common.errors import FailedPrecondition, NotFound
from store_backends import aio

ACTIVE = "active"

# An image and its properties, one row per property (one row without any).
_IMAGE = Prepared(lambda: Image.select(
    Image.id, Image.status, Image.deleted_at, Image.disk_format, Image.os_hash_value,
    Image.size, ImageProperty.name, ImageProperty.value)
    .join(ImageProperty, JOIN.LEFT_OUTER, on=(ImageProperty.image == Image.id))
    .where(Image.id == Param("id")))


def _image(image_id: str) -> tuple[dict, dict[str, str]]:
    """(reference, properties) of an active image. Read in every placement's transaction
    (the spawn is written there): one prepared statement, the properties joined."""
    rows = _IMAGE.execute(id=image_id).fetchall()
    if not rows or rows[0][2] is not None:
        raise NotFound(f"image {image_id} not found", reason="IMAGE_NOT_FOUND",
                       image_id=image_id)
    found_id, status, _deleted, disk_format, os_hash_value, size = rows[0][:6]
    if status != ACTIVE or os_hash_value is None:  # no hash: no data stored yet
        raise FailedPrecondition(f"image {image_id} is {status}, not active",
                                 reason="IMAGE_NOT_ACTIVE", image_id=image_id)
    ref = {"image_id": found_id, "disk_format": disk_format or "raw",
           "os_hash_value": os_hash_value, "size": size}
    return ref, {name: value for *_, name, value in rows if name is not None}


def boot_images(image_id: str) -> dict:
    """The root image and, when its properties name them (Glance's kernel_id, ramdisk_id,
    os_command_line), the kernel and ramdisk for direct kernel boot."""
    ref, props = _image(image_id)
    found = {"image": ref}
    for role in ("kernel", "ramdisk"):
        if props.get(f"{role}_id"):
            found[role] = _image(props[f"{role}_id"])[0]
    if props.get("os_command_line"):
        found["kernel_cmdline"] = props["os_command_line"]
    return found


def node_may_fetch(node_id: str, image_id: str) -> bool:
    """True when a spawn waiting on the node boots from the image."""
    for command in (NodeCommand.select().where(NodeCommand.node_id == node_id,
                                               NodeCommand.kind == "spawn",
                                               NodeCommand.state.in_(outbox.LIVE))):
        payload = command.payload or {}
        if any((payload.get(role) or {}).get("image_id") == image_id
               for role in ("image", "kernel", "ramdisk")):
            return True
    return False


def location(image_id: str) -> str:
    image = Image.get_or_none(Image.id == image_id)
    if image is None or not image.location or image.status != ACTIVE:
        raise NotFound(f"image {image_id} has no data", reason="IMAGE_NOT_FOUND",
                       image_id=image_id)
    return image.location


def chunks(store, location_: str, chunk_size: int) -> AsyncIterator[bytes]:
    return aio.get(store, location_, 0, chunk_size)
