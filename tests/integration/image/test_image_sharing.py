"""Sharing an image with other projects, as Glance does it, over real gRPC."""

import grpc
import pytest

from stratus.image.v1 import image_service_pb2 as pb
from tests.integration.image.conftest import sha512
from tests.support.errors import raises


def member_request(cls, image, who, **fields):
    return cls(image_id=image.id, member_id=who.project_id, **fields)


def add(images, owner, image, member):
    return images.AddMember(
        member_request(pb.AddMemberRequest, image, member), metadata=owner.metadata
    )


def answer(images, member, image, status, who=None):
    return images.UpdateMember(
        member_request(pb.UpdateMemberRequest, image, member, status=status),
        metadata=(who or member).metadata,
    )


def visible_in_list(images, who, image, **filters) -> bool:
    listed = images.ListImages(
        pb.ListImagesRequest(page_size=1000, owner=image.owner, **filters), metadata=who.metadata
    )
    return image.id in [i.id for i in listed.images]


def members_seen_by(images, who, image) -> dict:
    listed = images.ListMembers(pb.ListMembersRequest(image_id=image.id), metadata=who.metadata)
    return {m.member_id: m.status for m in listed.members}


def test_new_user_uploads_shares_and_the_other_project_accepts(cloud, images, qemu_img, tmp_path):
    """Upload a real qcow2, download it back, share it, the other project accepts and
    downloads it; a crafted qcow2 with a backing file is refused."""
    owner, friend = cloud.tenant(), cloud.tenant()
    data = qemu_img("disk.qcow2", "qcow2", "32M")
    image = images.create(owner, disk_format=pb.DISK_FORMAT_QCOW2)
    image = images.upload(owner, image.id, data)
    assert images.download(owner, image.id)[1] == data

    member = add(images, owner, image, friend)
    assert (member.status, member.member_id) == (pb.MEMBER_STATUS_PENDING, friend.project_id)
    assert images.get(friend, image.id).id == image.id  # offered: it may look
    assert not visible_in_list(images, friend, image)  # but it is not listed yet
    assert visible_in_list(images, friend, image, member_status=pb.MEMBER_STATUS_PENDING)

    assert (
        answer(images, friend, image, pb.MEMBER_STATUS_ACCEPTED).status == pb.MEMBER_STATUS_ACCEPTED
    )
    assert visible_in_list(images, friend, image)
    info, back = images.download(friend, image.id)
    assert back == data and info.os_hash_value == sha512(data)

    answer(images, friend, image, pb.MEMBER_STATUS_REJECTED)
    assert not visible_in_list(images, friend, image)

    (tmp_path / "base.raw").write_bytes(bytes(1 << 20))
    crafted = qemu_img(
        "crafted.qcow2", "qcow2", "1M", "-b", str(tmp_path / "base.raw"), "-F", "raw"
    )
    hostile = images.create(owner, disk_format=pb.DISK_FORMAT_QCOW2)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "IMAGE_UNSAFE", "data"):
        images.upload(owner, hostile.id, crafted)
    assert images.get(owner, hostile.id).status == pb.IMAGE_STATUS_QUEUED


def test_members_see_only_themselves_and_strangers_nothing(cloud, images):
    owner, one, two, stranger = (cloud.tenant() for _ in range(4))
    image = images.active(owner)
    add(images, owner, image, one)
    add(images, owner, image, two)
    assert set(members_seen_by(images, owner, image)) == {one.project_id, two.project_id}
    assert set(members_seen_by(images, one, image)) == {one.project_id}
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.GetMember(member_request(pb.GetMemberRequest, image, two), metadata=one.metadata)
    for call in (
        lambda: images.get(stranger, image.id),
        lambda: members_seen_by(images, stranger, image),
        lambda: images.download(stranger, image.id),
    ):
        with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
            call()


def test_only_the_member_answers_and_only_the_owner_manages(cloud, images):
    owner, member, other = cloud.tenant(), cloud.tenant(), cloud.tenant()
    image = images.active(owner)
    add(images, owner, image, member)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        answer(images, member, image, pb.MEMBER_STATUS_ACCEPTED, who=owner)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        add(images, member, image, other)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.RemoveMember(
            member_request(pb.RemoveMemberRequest, image, member), metadata=member.metadata
        )
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=member.metadata)
    assert members_seen_by(images, owner, image) == {member.project_id: pb.MEMBER_STATUS_PENDING}
    assert images.get(owner, image.id) == image


def test_removed_member_loses_the_image(cloud, images):
    owner, member = cloud.tenant(), cloud.tenant()
    image = images.active(owner)
    add(images, owner, image, member)
    answer(images, member, image, pb.MEMBER_STATUS_ACCEPTED)
    images.RemoveMember(
        member_request(pb.RemoveMemberRequest, image, member), metadata=owner.metadata
    )
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        images.get(member, image.id)
    with raises(grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND"):
        images.RemoveMember(
            member_request(pb.RemoveMemberRequest, image, member), metadata=owner.metadata
        )


def test_members_only_on_shared_images(cloud, images):
    owner, member = cloud.tenant(), cloud.tenant()
    image = images.create(owner, visibility=pb.IMAGE_VISIBILITY_PRIVATE)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_NOT_SHARED"):
        add(images, owner, image, member)
    assert members_seen_by(images, owner, image) == {}


def test_making_a_shared_image_private_hides_it_from_members(cloud, images):
    from google.protobuf import field_mask_pb2

    owner, member = cloud.tenant(), cloud.tenant()
    image = images.active(owner)
    add(images, owner, image, member)
    answer(images, member, image, pb.MEMBER_STATUS_ACCEPTED)
    images.UpdateImage(
        pb.UpdateImageRequest(
            image=pb.Image(id=image.id, visibility=pb.IMAGE_VISIBILITY_PRIVATE),
            update_mask=field_mask_pb2.FieldMask(paths=["visibility"]),
        ),
        metadata=owner.metadata,
    )
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        images.get(member, image.id)


@pytest.mark.parametrize(
    "who, reason, code",
    [
        ("owner", None, grpc.StatusCode.INVALID_ARGUMENT),
        ("member", "MEMBER_EXISTS", grpc.StatusCode.ALREADY_EXISTS),
    ],
)
def test_bad_additions(cloud, images, who, reason, code):
    owner, member = cloud.tenant(), cloud.tenant()
    image = images.active(owner)
    add(images, owner, image, member)
    with raises(code, reason):
        add(images, owner, image, owner if who == "owner" else member)
    assert members_seen_by(images, owner, image) == {member.project_id: pb.MEMBER_STATUS_PENDING}


def test_member_quota(cloud, images, settings, monkeypatch):
    monkeypatch.setattr(settings, "image_member_quota", 1)
    owner, one, two = cloud.tenant(), cloud.tenant(), cloud.tenant()
    image = images.create(owner)
    add(images, owner, image, one)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_MEMBER_QUOTA_EXCEEDED"):
        add(images, owner, image, two)


def test_update_member_needs_a_status(cloud, images):
    owner, member = cloud.tenant(), cloud.tenant()
    image = images.create(owner)
    add(images, owner, image, member)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="status"):
        answer(images, member, image, pb.MEMBER_STATUS_UNSPECIFIED)
