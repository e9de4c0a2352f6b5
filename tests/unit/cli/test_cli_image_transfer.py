"""`image create --file` and `image save` through the real CLI code path, against a real
grpc.aio server that speaks stratus.image.v1 and keeps the bytes it is sent."""

import hashlib
import io
import json

import pytest

from cli.main import main
from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc

IMAGE_ID = "3e2b7c1a-5d4f-4b8e-9c0a-1f2e3d4c5b6a"
DATA = bytes(range(256)) * 12_000  # about 3 MiB: several upload chunks


class KeepingImages(pb_grpc.ImageServiceServicer):
    def __init__(self, advertised_hash=None):
        self.image = None
        self.data = b""
        self.first = None
        self.advertised_hash = advertised_hash

    async def CreateImage(self, request, context):
        self.image = pb.Image()
        self.image.CopyFrom(request.image)
        self.image.id, self.image.status = IMAGE_ID, pb.IMAGE_STATUS_QUEUED
        return self.image

    async def GetImage(self, request, context):
        return self.image

    async def UploadImageData(self, request_iterator, context):
        async for request in request_iterator:
            self.first = self.first or request
            self.data += request.data
        self.image.status, self.image.size = pb.IMAGE_STATUS_ACTIVE, len(self.data)
        self.image.os_hash_algo = "sha512"
        self.image.os_hash_value = hashlib.sha512(self.data).hexdigest()
        return self.image

    async def DownloadImageData(self, request, context):
        info = pb.ImageDataInfo(
            size=len(self.data),
            os_hash_algo="sha512",
            os_hash_value=self.advertised_hash or hashlib.sha512(self.data).hexdigest(),
        )
        for offset in range(0, len(self.data), 1 << 20):
            message = pb.DownloadImageDataResponse(data=self.data[offset : offset + (1 << 20)])
            if offset == 0:
                message.info.CopyFrom(info)
            yield message


@pytest.fixture
def image_server(aio_server):
    def start(**kwargs):
        servicer = KeepingImages(**kwargs)
        return servicer, aio_server(
            lambda server: pb_grpc.add_ImageServiceServicer_to_server(servicer, server)
        )

    return start


def run(address, *argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["--url", address, "--token", "t", *argv], env={}, stdout=stdout, stderr=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_create_uploads_the_file_in_chunks_and_declares_its_size(image_server, tmp_path):
    servicer, address = image_server()
    disk = tmp_path / "disk.raw"
    disk.write_bytes(DATA)
    code, out, err = run(
        address,
        "image",
        "create",
        "cirros",
        "--file",
        str(disk),
        "--disk-format",
        "qcow2",
        "-f",
        "json",
    )
    assert (code, err) == (0, "")
    assert servicer.data == DATA
    assert (servicer.first.image_id, servicer.first.size) == (IMAGE_ID, len(DATA))
    assert servicer.image.disk_format == pb.DISK_FORMAT_QCOW2
    assert servicer.image.container_format == pb.CONTAINER_FORMAT_BARE
    shown = json.loads(out)
    assert (shown["status"], shown["size"], shown["disk_format"]) == ("active", len(DATA), "qcow2")


def test_save_writes_the_verified_bytes_to_a_file(image_server, tmp_path):
    servicer, address = image_server()
    servicer.image = pb.Image(
        id=IMAGE_ID, name="cirros", status=pb.IMAGE_STATUS_ACTIVE, size=len(DATA)
    )
    servicer.data = DATA
    target = tmp_path / "saved.raw"
    assert run(address, "image", "save", IMAGE_ID, "--file", str(target)) == (0, "", "")
    assert target.read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["saved.raw"]


def test_save_refuses_data_that_does_not_match_its_hash_and_keeps_nothing(image_server, tmp_path):
    servicer, address = image_server(advertised_hash="00" * 64)
    servicer.image = pb.Image(
        id=IMAGE_ID, name="cirros", status=pb.IMAGE_STATUS_ACTIVE, size=len(DATA)
    )
    servicer.data = DATA
    target = tmp_path / "saved.raw"
    code, _out, err = run(address, "image", "save", IMAGE_ID, "--file", str(target))
    assert code == 1
    assert err == (
        "stratus: error: the downloaded data does not match the image's sha512 "
        "hash; run the command again\n"
    )
    assert list(tmp_path.iterdir()) == []
