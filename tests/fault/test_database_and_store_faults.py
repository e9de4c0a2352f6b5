"""The database restarted under load, and an image store that fills up mid-upload.

The controller runs on a PostgreSQL server of this module's own (started here, crashed with
an immediate stop and started again), with one agent. The image store is "full" through
RLIMIT_FSIZE on the controller process: a write past the limit fails with EFBIG at that
offset, exactly as it would fail with ENOSPC on a full disk (the file store treats both as
StorageFull). No mount rights are needed, and nothing else in the process writes a file
that large.
"""

import hashlib
import os
import time

import grpc
import pytest

from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.fault.cluster import Cluster, retrying
from tests.fault.conftest import needs_daemons
from tests.support.cloud import unique
from tests.support.postgres import PostgresServer, binaries

pytestmark = [
    needs_daemons,
    pytest.mark.postgres,
    pytest.mark.skipif(binaries() is None, reason="PostgreSQL is not installed"),
]

STORE_LIMIT = 8 << 20  # bytes: no file the controller writes may grow past this


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres):
    made = Cluster(
        tmp_path_factory.mktemp("faults-pg"),
        database_url=postgres.create_database("faults"),
        file_size_limit=STORE_LIMIT,
        nodes=1,
    )
    try:
        yield made.start()
    finally:
        made.close()


def test_servers_created_across_a_database_restart_all_end_active(cluster, postgres):
    image_id = cluster.fresh_image()
    before = [cluster.create(image_id) for _ in range(3)]
    postgres.crash()
    during = [cluster.meanwhile(lambda: cluster.create(image_id)) for _ in range(3)]
    time.sleep(1)  # the calls meet a controller without its database
    postgres.start_again()
    after = [cluster.create(image_id) for _ in range(3)]
    servers = before + [call.result() for call in during] + after
    cluster.settle(servers)
    assert cluster.controller.process.proc.poll() is None  # it rode the outage out
    cluster.check()


def upload(cluster, data: bytes) -> ipb.Image:
    images = ipb_grpc.ImageServiceStub(cluster.cloud.channel)
    image = images.CreateImage(
        ipb.CreateImageRequest(
            image=ipb.Image(
                name=unique("big"),
                disk_format=ipb.DISK_FORMAT_RAW,
                container_format=ipb.CONTAINER_FORMAT_BARE,
            )
        ),
        metadata=cluster.cloud.admin,
    )

    def chunks():
        yield ipb.UploadImageDataRequest(
            image_id=image.id,
            size=len(data),
            expected_os_hash_value=hashlib.sha512(data).hexdigest(),
        )
        for start in range(0, len(data), 1 << 20):
            yield ipb.UploadImageDataRequest(data=data[start : start + (1 << 20)])

    try:
        images.UploadImageData(chunks(), metadata=cluster.cloud.admin)
    except grpc.RpcError as exc:
        return image, exc
    return image, None


def test_a_full_image_store_refuses_the_upload_and_leaves_nothing_behind(cluster):
    store = cluster.controller.directory / "images"
    before = set(os.listdir(store)) if store.exists() else set()
    image, error = upload(cluster, os.urandom(STORE_LIMIT + (2 << 20)))
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    images = ipb_grpc.ImageServiceStub(cluster.cloud.channel)
    refused = retrying(
        lambda: images.GetImage(ipb.GetImageRequest(id=image.id), metadata=cluster.cloud.admin)
    )
    assert refused.status in (ipb.IMAGE_STATUS_QUEUED, ipb.IMAGE_STATUS_KILLED), refused
    after = set(os.listdir(store)) if store.exists() else set()
    assert after - before == set(), "the refused upload left data in the store"
    # The controller keeps serving: an image that fits is stored and boots.
    server_id = cluster.create(cluster.fresh_image())
    cluster.settle([server_id])
    assert cluster.controller.process.proc.poll() is None
    cluster.check()
