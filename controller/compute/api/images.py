"""The compute API's view of images: what it asks of the image area's port (`ImageLookup`,
answered by controller/image/port.py), and Nova's boot checks against the flavor."""

from __future__ import annotations

from collections.abc import Callable

from controller.image.port import ImageInfo, SnapshotRequest
from stratus_common.errors import FailedPrecondition, InvalidArgument, NotFound

GIB = 1024**3


# (image_id, project_id, is_admin) -> ImageInfo, or None when missing or not visible; called
# in a database worker, so a batch of creates asks once per image
ImageLookup = Callable[[str, str, bool], "ImageInfo | None"]
# A server's snapshot as a queued image -> its id; in the caller's write transaction
CreateSnapshot = Callable[[SnapshotRequest], str]


def check_bootable(image: ImageInfo | None, image_id: str, flavor) -> dict:
    """Refuses what Nova refuses; returns the properties placement needs."""
    if image is None:
        raise NotFound(f"image {image_id} not found", reason="IMAGE_NOT_FOUND", image_id=image_id)
    if image.status != "active":
        raise FailedPrecondition(
            f"image {image_id} is {image.status}, not active",
            reason="IMAGE_NOT_ACTIVE",
            image_id=image_id,
            status=image.status,
        )
    if image.min_ram_mb > flavor.ram_mb:
        raise InvalidArgument(
            "server.flavor_id",
            f"flavor has {flavor.ram_mb} MB RAM, image needs {image.min_ram_mb}",
            reason="FLAVOR_RAM_TOO_SMALL",
        )
    if flavor.disk_gb:  # 0 means "the image's size", as in Nova
        needed = max(image.size_bytes, image.virtual_size_bytes)
        if needed > flavor.disk_gb * GIB:
            raise InvalidArgument(
                "server.flavor_id",
                f"image is larger than the flavor's {flavor.disk_gb} GB disk",
                reason="FLAVOR_DISK_TOO_SMALL",
            )
        if image.min_disk_gb > flavor.disk_gb:
            raise InvalidArgument(
                "server.flavor_id",
                f"flavor has {flavor.disk_gb} GB disk, image needs {image.min_disk_gb}",
                reason="FLAVOR_DISK_TOO_SMALL",
            )
    return {
        "architecture": image.architecture,
        "hypervisor_type": image.hypervisor_type,
        "min_ram_mb": image.min_ram_mb,
        "min_disk_gb": image.min_disk_gb,
        "size_gb": -(-max(image.size_bytes, image.virtual_size_bytes) // GIB),
    }
