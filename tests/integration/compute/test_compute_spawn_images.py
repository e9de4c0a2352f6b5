"""The images a spawn command names, read through the image port in the claim's transaction:
the root image and, when its properties say so, a kernel and ramdisk for direct kernel
boot."""

import uuid

import pytest

from controller.db.queries import utcnow
from controller.image.models import Image, ImageProperty
from controller.image.port import BootImages, ImagePort, ImageRef
from stratus_common.errors import FailedPrecondition, NotFound


def _image(db, status="active", **properties) -> str:
    image_id, now = str(uuid.uuid4()), utcnow()
    stored = "ab" * 64 if status == "active" else None  # the hash of data stored

    def write():
        Image.create(
            id=image_id,
            owner="o",
            status=status,
            visibility="public",
            disk_format="qcow2",
            size=4096,
            os_hash_value=stored,
            created_at=now,
            updated_at=now,
        )
        for name, value in properties.items():
            ImageProperty.create(image=image_id, name=name, value=value)

    db.call(write)
    return image_id


def test_root_image_alone(db):
    root = _image(db, architecture="x86_64")
    assert db.call(ImagePort.boot_images, root) == BootImages(
        ImageRef(image_id=root, disk_format="qcow2", os_hash_value="ab" * 64, size=4096)
    )


def test_kernel_ramdisk_and_command_line_from_properties(db):
    kernel, ramdisk = _image(db), _image(db)
    root = _image(db, kernel_id=kernel, ramdisk_id=ramdisk, os_command_line="console=ttyS0")
    found = db.call(ImagePort.boot_images, root)
    assert (found.image.image_id, found.kernel.image_id, found.ramdisk.image_id) == (
        root,
        kernel,
        ramdisk,
    )
    assert found.kernel_cmdline == "console=ttyS0"


def test_missing_or_inactive_images_are_refused(db):
    with pytest.raises(NotFound):
        db.call(ImagePort.boot_images, str(uuid.uuid4()))
    with pytest.raises(FailedPrecondition):
        db.call(ImagePort.boot_images, _image(db, status="queued"))
    with pytest.raises(NotFound):
        db.call(ImagePort.boot_images, _image(db, kernel_id=str(uuid.uuid4())))
