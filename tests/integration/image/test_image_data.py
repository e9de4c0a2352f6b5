"""Image data over real gRPC: streamed upload and download, and every way an upload can fail
without anything stored being changed or lost."""

import hashlib
import os
import time

import grpc
import pytest

from stratus.image.v1 import image_service_pb2 as pb
from tests.integration.image.conftest import Paused, sha512, wait_for_status
from tests.support.errors import raises


def assert_untouched(images, who, image: pb.Image, data: bytes | None = None):
    """The record is as it was; its data (if any) is still there, byte for byte, alone."""
    assert images.get(who, image.id) == image
    if data is None:
        assert images.stored_files(image.id) == []
    else:
        assert images.stored_files(image.id) == [image.id]
        assert images.download(who, image.id)[1] == data


# --- the happy paths -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 65536, 1 << 20])
def test_upload_then_download_byte_identical(cloud, images, chunk):
    tenant = cloud.tenant()
    data = os.urandom(1_500_000 if chunk > 1 else 3000)
    image = images.create(tenant)
    active = images.upload(tenant, image.id, data, chunk=chunk)
    assert (active.status, active.size, active.virtual_size) == (
        pb.IMAGE_STATUS_ACTIVE,
        len(data),
        len(data),
    )
    assert (active.os_hash_algo, active.os_hash_value) == ("sha512", sha512(data))
    assert active.checksum == hashlib.md5(data).hexdigest()
    info, back = images.download(tenant, image.id)
    assert back == data
    assert (info.size, info.offset, info.os_hash_value) == (len(data), 0, sha512(data))


@pytest.mark.parametrize("offset", [1, 999_999, 1_500_000])
def test_download_resumes_from_an_offset(cloud, images, offset):
    tenant = cloud.tenant()
    data = os.urandom(1_500_000)
    image = images.active(tenant, data)
    info, back = images.download(tenant, image.id, offset)
    assert (info.offset, back) == (offset, data[offset:])


def test_real_qcow2_is_accepted_with_its_virtual_size(cloud, images, qemu_img):
    tenant = cloud.tenant()
    data = qemu_img("disk.qcow2", "qcow2", "64M")
    image = images.create(tenant, disk_format=pb.DISK_FORMAT_QCOW2)
    active = images.upload(
        tenant, image.id, data, expected_os_hash_value=sha512(data), size=len(data)
    )
    assert (active.status, active.virtual_size, active.size) == (
        pb.IMAGE_STATUS_ACTIVE,
        64 << 20,
        len(data),
    )
    assert images.download(tenant, image.id)[1] == data


def test_data_may_come_in_the_first_message(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    active = images.UploadImageData(
        iter([pb.UploadImageDataRequest(image_id=image.id, data=b"abc", last=True)]),
        metadata=tenant.metadata,
    )
    assert active.size == 3


@pytest.mark.parametrize(
    "first", [{}, {"size": 3}, {"expected_checksum": hashlib.md5(b"abc").hexdigest()}]
)
def test_the_client_s_word_completes_an_upload(cloud, images, first):
    # `last` on the final data message, or a declared size or digest the data matches.
    tenant = cloud.tenant()
    image = images.create(tenant)
    last = not first
    messages = [
        pb.UploadImageDataRequest(image_id=image.id, **first),
        pb.UploadImageDataRequest(data=b"ab"),
        pb.UploadImageDataRequest(data=b"c", last=last),
    ]
    assert images.UploadImageData(iter(messages), metadata=tenant.metadata).size == 3
    assert images.download(tenant, image.id)[1] == b"abc"


def test_a_stream_that_just_ends_keeps_nothing(cloud, images):
    # What a client cancelled between two messages looks like to the server: its stream ends
    # with nothing to say the data is complete. The data may be cut short; it is not kept.
    tenant = cloud.tenant()
    image = images.create(tenant)
    messages = [
        pb.UploadImageDataRequest(image_id=image.id),
        pb.UploadImageDataRequest(data=b"half of it"),
    ]
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="last"):
        images.UploadImageData(iter(messages), metadata=tenant.metadata)
    assert_untouched(images, tenant, image)
    assert images.upload(tenant, image.id, b"all of it").status == pb.IMAGE_STATUS_ACTIVE


def test_nothing_may_follow_the_last_message(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    messages = [
        pb.UploadImageDataRequest(image_id=image.id, data=b"abc", last=True),
        pb.UploadImageDataRequest(data=b"more"),
    ]
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="last"):
        images.UploadImageData(iter(messages), metadata=tenant.metadata)
    assert_untouched(images, tenant, image)


def test_archive_container_content_is_inspected_as_an_archive(cloud, images, qemu_img):
    tenant = cloud.tenant()
    image = images.create(
        tenant, disk_format=pb.DISK_FORMAT_VMDK, container_format=pb.CONTAINER_FORMAT_OVA
    )
    active = images.upload(tenant, image.id, b"ustar" + bytes(10_000))
    assert active.status == pb.IMAGE_STATUS_ACTIVE and not active.HasField("virtual_size")
    disguised = images.create(
        tenant, disk_format=pb.DISK_FORMAT_RAW, container_format=pb.CONTAINER_FORMAT_DOCKER
    )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_FORMAT_MISMATCH"):
        images.upload(tenant, disguised.id, qemu_img("x.qcow2", "qcow2"))
    assert_untouched(images, tenant, disguised)


# --- hostile and wrong content ------------------------------------------------------------------


def test_qcow2_with_backing_file_is_refused_and_nothing_kept(cloud, images, qemu_img, tmp_path):
    tenant = cloud.tenant()
    (tmp_path / "base.raw").write_bytes(bytes(1 << 20))
    hostile = qemu_img("evil.qcow2", "qcow2", "1M", "-b", str(tmp_path / "base.raw"), "-F", "raw")
    image = images.create(tenant, disk_format=pb.DISK_FORMAT_QCOW2)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNSAFE", "data"):
        images.upload(tenant, image.id, hostile + bytes(3 << 20))
    assert_untouched(images, tenant, image)
    good = qemu_img("good.qcow2", "qcow2")  # the image is usable again
    assert images.upload(tenant, image.id, good).status == pb.IMAGE_STATUS_ACTIVE


def test_content_that_is_not_the_declared_format_is_refused(cloud, images, qemu_img):
    tenant = cloud.tenant()
    image = images.create(tenant, disk_format=pb.DISK_FORMAT_RAW)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_FORMAT_MISMATCH", "disk_format"):
        images.upload(tenant, image.id, qemu_img("x.qcow2", "qcow2"))
    assert_untouched(images, tenant, image)


@pytest.mark.parametrize(
    "first, reason, field",
    [
        ({"expected_os_hash_value": "0" * 128}, "IMAGE_HASH_MISMATCH", "expected_os_hash_value"),
        ({"expected_checksum": "0" * 32}, "IMAGE_CHECKSUM_MISMATCH", "expected_checksum"),
        ({"size": 10}, "IMAGE_SIZE_MISMATCH", "size"),
        ({"size": 1_000_000}, "IMAGE_SIZE_MISMATCH", "size"),
    ],
)
def test_data_that_is_not_what_the_client_announced_is_refused(cloud, images, first, reason, field):
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, reason, field):
        images.upload(tenant, image.id, os.urandom(100_000), **first)
    assert_untouched(images, tenant, image)


@pytest.mark.parametrize(
    "first, field",
    [
        ({"expected_os_hash_value": "xyz"}, "expected_os_hash_value"),
        ({"expected_checksum": "abc"}, "expected_checksum"),
        ({"size": -1}, "size"),
    ],
)
def test_malformed_announcements_are_refused(cloud, images, first, field):
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        images.upload(tenant, image.id, b"data", **first)
    assert_untouched(images, tenant, image)


# --- limits ---------------------------------------------------------------------------------------


def test_size_cap_streamed_and_announced(cloud, images, settings, monkeypatch):
    monkeypatch.setattr(settings, "image_size_cap", 200_000)
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_SIZE_LIMIT_EXCEEDED"):
        images.upload(tenant, image.id, os.urandom(300_000))
    assert_untouched(images, tenant, image)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_SIZE_LIMIT_EXCEEDED"):
        images.upload(tenant, image.id, b"", size=300_000)
    assert_untouched(images, tenant, image)
    assert images.upload(tenant, image.id, os.urandom(200_000)).status == pb.IMAGE_STATUS_ACTIVE


def test_project_storage_quota(cloud, images, settings, monkeypatch):
    monkeypatch.setattr(settings, "project_storage_quota", 500_000)
    tenant = cloud.tenant()
    first_data = os.urandom(300_000)
    first = images.active(tenant, first_data)
    second = images.create(tenant)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "STORAGE_QUOTA_EXCEEDED"):
        images.upload(tenant, second.id, os.urandom(250_000))
    assert_untouched(images, tenant, second)
    assert_untouched(images, tenant, first, first_data)
    other_project = cloud.tenant()  # the quota is per project
    assert images.active(other_project, os.urandom(400_000)).status == pb.IMAGE_STATUS_ACTIVE
    images.DeleteImage(pb.DeleteImageRequest(id=first.id), metadata=tenant.metadata)
    assert images.upload(tenant, second.id, os.urandom(250_000)).status == pb.IMAGE_STATUS_ACTIVE


# --- wrong moments and wrong callers -------------------------------------------------------


def test_data_is_uploaded_once(cloud, images):
    tenant = cloud.tenant()
    data = os.urandom(50_000)
    image = images.active(tenant, data)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_DATA_EXISTS"):
        images.upload(tenant, image.id, os.urandom(50_000))
    assert_untouched(images, tenant, image, data)


def test_upload_needs_the_formats(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant, disk_format=0, container_format=0)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_FORMATS_NOT_SET"):
        images.upload(tenant, image.id, b"data")
    assert_untouched(images, tenant, image)


def test_upload_to_someone_elses_image(cloud, images):
    owner, other = cloud.tenant(), cloud.tenant()
    reader = cloud.tenant("reader", project_id=owner.project_id)
    private = images.create(owner, visibility=pb.IMAGE_VISIBILITY_PRIVATE)
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        images.upload(other, private.id, b"data")
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.upload(reader, private.id, b"data")
    community = images.create(owner, visibility=pb.IMAGE_VISIBILITY_COMMUNITY)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.upload(other, community.id, b"data")
    assert_untouched(images, owner, private)
    assert_untouched(images, owner, community)


def test_empty_request_stream_is_refused(cloud, images):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="image_id"):
        images.UploadImageData(iter([]), metadata=cloud.tenant().metadata)


def test_download_of_an_image_without_data(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_HAS_NO_DATA"):
        images.download(tenant, image.id)


@pytest.mark.parametrize("offset", [-1, 50_001])
def test_download_offset_outside_the_image(cloud, images, offset):
    tenant = cloud.tenant()
    image = images.active(tenant, bytes(50_000))
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "OFFSET_OUT_OF_RANGE", "offset"):
        images.download(tenant, image.id, offset)


def test_client_that_goes_away_mid_stream_leaves_nothing(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    stream = Paused(image.id)
    call = images.UploadImageData.future(iter(stream), metadata=tenant.metadata)
    assert stream.sent.wait(30)
    assert (
        wait_for_status(images, tenant, image.id, pb.IMAGE_STATUS_SAVING).status
        == pb.IMAGE_STATUS_SAVING
    )
    call.cancel()
    stream.release.set()
    assert (
        wait_for_status(images, tenant, image.id, pb.IMAGE_STATUS_QUEUED).status
        == pb.IMAGE_STATUS_QUEUED
    )
    deadline = time.monotonic() + 30
    while images.stored_files(image.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert images.stored_files(image.id) == []
    assert images.upload(tenant, image.id, b"second try").status == pb.IMAGE_STATUS_ACTIVE


def test_second_upload_while_the_first_is_in_progress(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    stream = Paused(image.id)
    call = images.UploadImageData.future(iter(stream), metadata=tenant.metadata)
    try:
        assert stream.sent.wait(30)
        wait_for_status(images, tenant, image.id, pb.IMAGE_STATUS_SAVING)
        with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_UPLOAD_IN_PROGRESS"):
            images.upload(tenant, image.id, b"intruder")
    finally:
        stream.release.set()
    active = call.result(timeout=60)
    assert active.size == 5 * 65536


def test_image_deleted_during_upload(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    stream = Paused(image.id)
    call = images.UploadImageData.future(iter(stream), metadata=tenant.metadata)
    assert stream.sent.wait(30)
    wait_for_status(images, tenant, image.id, pb.IMAGE_STATUS_SAVING)
    images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=tenant.metadata)
    stream.release.set()
    with pytest.raises(grpc.RpcError) as info:
        call.result(timeout=60)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert images.stored_files(image.id) == []


def test_download_abandoned_mid_stream_changes_nothing(cloud, images):
    tenant = cloud.tenant()
    data = os.urandom(5 << 20)
    image = images.active(tenant, data)
    call = images.DownloadImageData(
        pb.DownloadImageDataRequest(image_id=image.id), metadata=tenant.metadata
    )
    assert next(call).info.size == len(data)
    assert len(next(call).data) > 0
    call.cancel()
    assert_untouched(images, tenant, image, data)
