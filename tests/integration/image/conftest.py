"""Image service tests: a stub on the session's controller, and helpers that speak its protocol."""

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc
from tests.support.cloud import unique

CHUNK = 256 * 1024


class Images:
    """The ImageService stub plus the few gestures every test repeats."""

    def __init__(self, channel, store_dir: Path):
        self.stub = pb_grpc.ImageServiceStub(channel)
        self.store_dir = store_dir

    def __getattr__(self, name):
        return getattr(self.stub, name)

    def create(
        self,
        who,
        disk_format=pb.DISK_FORMAT_RAW,
        container_format=pb.CONTAINER_FORMAT_BARE,
        **fields,
    ) -> pb.Image:
        fields.setdefault("name", unique("image"))
        image = pb.Image(disk_format=disk_format, container_format=container_format, **fields)
        return self.stub.CreateImage(pb.CreateImageRequest(image=image), metadata=who.metadata)

    def upload(self, who, image_id: str, data: bytes, chunk: int = CHUNK, **first) -> pb.Image:
        return self.stub.UploadImageData(
            upload_messages(image_id, data, chunk, **first), metadata=who.metadata
        )

    def download(self, who, image_id: str, offset: int = 0) -> tuple[pb.ImageDataInfo, bytes]:
        messages = list(
            self.stub.DownloadImageData(
                pb.DownloadImageDataRequest(image_id=image_id, offset=offset), metadata=who.metadata
            )
        )
        return messages[0].info, b"".join(m.data for m in messages[1:])

    def get(self, who, image_id: str) -> pb.Image:
        return self.stub.GetImage(pb.GetImageRequest(id=image_id), metadata=who.metadata)

    def active(self, who, data: bytes = b"", **fields) -> pb.Image:
        image = self.create(who, **fields)
        return self.upload(who, image.id, data or os.urandom(300_000))

    def stored_files(self, image_id: str) -> list[str]:
        """Every file of the store that belongs to this image, temporary ones included."""
        return sorted(p.name for p in self.store_dir.iterdir() if image_id in p.name)


def upload_messages(image_id: str, data: bytes, chunk: int = CHUNK, **first):
    yield pb.UploadImageDataRequest(image_id=image_id, **first)
    for start in range(0, len(data), chunk):
        yield pb.UploadImageDataRequest(data=data[start : start + chunk])
    yield pb.UploadImageDataRequest(last=True)


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def wait_for_status(images, who, image_id, status, timeout=30):
    """The server finishes cleaning up after a cancelled call on its own time."""
    deadline = time.monotonic() + timeout
    while True:
        image = images.get(who, image_id)
        if image.status == status or time.monotonic() > deadline:
            return image
        time.sleep(0.05)


class Paused:
    """An upload's request stream that stops after `after` chunks until released."""

    def __init__(self, image_id: str, after: int = 4):
        self.image_id, self.after = image_id, after
        self.sent = threading.Event()
        self.release = threading.Event()

    def __iter__(self):
        yield pb.UploadImageDataRequest(image_id=self.image_id)
        for _ in range(self.after):
            yield pb.UploadImageDataRequest(data=os.urandom(65536))
        self.sent.set()
        self.release.wait(60)
        yield pb.UploadImageDataRequest(data=os.urandom(65536), last=True)


@pytest.fixture(scope="session")
def images(cloud, controller):
    return Images(cloud.channel, Path(controller.app.image_store.directory))


@pytest.fixture
def settings(controller, monkeypatch):
    """The running image service's settings; change them with monkeypatch.setattr (undone after)."""
    return controller.app.images.settings


@pytest.fixture
def qemu_img(tmp_path):
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img (qemu-utils) is not installed")

    def make(name: str, fmt: str, size: str = "1M", *options: str) -> bytes:
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", fmt, *options, name, size], cwd=tmp_path, check=True
        )
        return (tmp_path / name).read_bytes()

    return make
