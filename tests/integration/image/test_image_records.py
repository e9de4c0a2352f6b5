"""Image records over real gRPC: create, get, list, update, delete, deactivate, and refusals."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from stratus.image.v1 import image_service_pb2 as pb
from tests.support.errors import raises


def update(images, who, image: pb.Image, *paths) -> pb.Image:
    return images.UpdateImage(
        pb.UpdateImageRequest(image=image, update_mask=field_mask_pb2.FieldMask(paths=list(paths))),
        metadata=who.metadata,
    )


def listed(images, who, everyone=False, **filters) -> list[str]:
    """Ids listed to `who`; only its own project's unless `everyone` (other tests make public
    images in the same cloud)."""
    if not everyone:
        filters.setdefault("owner", who.project_id)
    return [
        i.id
        for i in images.ListImages(
            pb.ListImagesRequest(page_size=1000, **filters), metadata=who.metadata
        ).images
    ]


# --- create and get ----------------------------------------------------------------------------


def test_create_gives_a_queued_shared_image_of_the_callers_project(cloud, images):
    tenant = cloud.tenant()
    image = images.create(
        tenant, min_disk=2, min_ram=512, tags=["a", "b", "a"], properties={"architecture": "x86_64"}
    )
    assert (image.status, image.visibility, image.owner) == (
        pb.IMAGE_STATUS_QUEUED,
        pb.IMAGE_VISIBILITY_SHARED,
        tenant.project_id,
    )
    assert not image.HasField("size") and not image.HasField("virtual_size")
    assert (list(image.tags), dict(image.properties)) == (["a", "b"], {"architecture": "x86_64"})
    assert images.get(tenant, image.id) == image


def test_retried_create_with_a_request_id_returns_the_first_image(cloud, images):
    tenant = cloud.tenant()
    request = pb.CreateImageRequest(image=pb.Image(name="once"), request_id="req-1")
    first = images.CreateImage(request, metadata=tenant.metadata)
    again = images.CreateImage(request, metadata=tenant.metadata)
    assert again.id == first.id
    assert listed(images, tenant) == [first.id]


def test_client_chosen_id_and_its_reuse(cloud, images):
    tenant = cloud.tenant()
    image_id = str(uuid.uuid4())
    assert images.create(tenant, id=image_id).id == image_id
    with raises(grpc.StatusCode.ALREADY_EXISTS, "IMAGE_EXISTS"):
        images.create(tenant, id=image_id)


@pytest.mark.parametrize(
    "properties, field",
    [
        ({"os_glance_import_method": "x"}, "image.properties.os_glance_import_method"),
        ({"size": "1"}, "image.properties.size"),
        ({"owner": "me"}, "image.properties.owner"),
    ],
)
def test_reserved_property_names_are_refused(cloud, images, properties, field):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "RESERVED_PROPERTY", field):
        images.create(cloud.tenant(), properties=properties)


def test_amazon_formats_must_match(cloud, images):
    with raises(
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FORMAT_COMBINATION", "image.container_format"
    ):
        images.create(
            cloud.tenant(),
            disk_format=pb.DISK_FORMAT_AMI,
            container_format=pb.CONTAINER_FORMAT_BARE,
        )


def test_tag_and_property_quotas(cloud, images, settings, monkeypatch):
    monkeypatch.setattr(settings, "image_tag_quota", 2)
    monkeypatch.setattr(settings, "image_property_quota", 1)
    tenant = cloud.tenant()
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_TAG_QUOTA_EXCEEDED"):
        images.create(tenant, tags=["a", "b", "c"])
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "IMAGE_PROPERTY_QUOTA_EXCEEDED"):
        images.create(tenant, properties={"a": "1", "b": "2"})
    assert listed(images, tenant) == []


def test_reader_cannot_create_and_member_cannot_create_for_another_project(cloud, images):
    owner = cloud.tenant()
    reader = cloud.tenant("reader", project_id=owner.project_id)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.create(reader)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.create(cloud.tenant(), owner=owner.project_id)
    assert listed(images, owner) == []


def test_only_admin_creates_public_images(cloud, images):
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.create(cloud.tenant(), visibility=pb.IMAGE_VISIBILITY_PUBLIC)
    admin = cloud.tenant("admin")
    assert (
        images.create(admin, visibility=pb.IMAGE_VISIBILITY_PUBLIC).visibility
        == pb.IMAGE_VISIBILITY_PUBLIC
    )


@pytest.mark.parametrize("bad_id", ["", "not-a-uuid"])
def test_malformed_ids_are_invalid_not_missing(cloud, images, bad_id):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="id"):
        images.get(cloud.tenant(), bad_id)


# --- visibility ------------------------------------------------------------------------------


def test_another_projects_private_image_does_not_exist_for_a_stranger(cloud, images):
    owner, stranger = cloud.tenant(), cloud.tenant()
    image = images.active(owner, visibility=pb.IMAGE_VISIBILITY_PRIVATE)
    before = images.get(owner, image.id)
    calls = [
        lambda: images.get(stranger, image.id),
        lambda: update(images, stranger, pb.Image(id=image.id, name="mine now"), "name"),
        lambda: images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=stranger.metadata),
        lambda: images.download(stranger, image.id),
        lambda: images.upload(stranger, image.id, b"x"),
    ]
    for call in calls:
        with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
            call()
    assert image.id not in listed(images, stranger, everyone=True)
    assert images.get(owner, image.id) == before


def test_public_image_is_visible_but_not_changeable_by_others(cloud, images):
    admin, other = cloud.tenant("admin"), cloud.tenant()
    image = images.active(admin, visibility=pb.IMAGE_VISIBILITY_PUBLIC)
    assert image.id in listed(images, other, everyone=True)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        update(images, other, pb.Image(id=image.id, name="defaced"), "name")
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=other.metadata)
    assert images.get(admin, image.id).name == image.name


def test_community_images_are_listed_only_when_asked_for(cloud, images):
    owner, other = cloud.tenant(), cloud.tenant()
    image = images.create(owner, visibility=pb.IMAGE_VISIBILITY_COMMUNITY)
    assert images.get(other, image.id).id == image.id
    assert image.id not in listed(images, other, everyone=True)
    assert image.id in listed(
        images, other, everyone=True, visibility=pb.IMAGE_VISIBILITY_COMMUNITY
    )


# --- list --------------------------------------------------------------------------------------


def test_list_filters(cloud, images):
    tenant = cloud.tenant()
    small = images.active(tenant, b"s" * 1000, tags=["gold", "linux"], properties={"os": "debian"})
    big = images.active(tenant, b"b" * 5000, tags=["linux"], properties={"os": "fedora"})
    queued = images.create(
        tenant, name="the-queued-one", disk_format=pb.DISK_FORMAT_QCOW2, protected=True
    )
    assert set(listed(images, tenant)) == {small.id, big.id, queued.id}
    assert listed(images, tenant, name="the-queued-one") == [queued.id]
    assert listed(images, tenant, tags=["linux", "gold"]) == [small.id]
    assert listed(images, tenant, properties={"os": "fedora"}) == [big.id]
    assert listed(images, tenant, status=pb.IMAGE_STATUS_ACTIVE, size_min=2000) == [big.id]
    assert listed(images, tenant, status=pb.IMAGE_STATUS_ACTIVE, size_max=2000) == [small.id]
    assert listed(images, tenant, status=pb.IMAGE_STATUS_QUEUED) == [queued.id]
    assert listed(images, tenant, disk_format=pb.DISK_FORMAT_QCOW2) == [queued.id]
    assert listed(images, tenant, protected=True) == [queued.id]
    assert listed(images, tenant, order_by="size") == [queued.id, small.id, big.id]


def test_list_pages_through_everything_once(cloud, images):
    tenant = cloud.tenant()
    made = [images.create(tenant, name=f"img-{n}").id for n in range(5)]
    seen, token = [], ""
    while True:
        page = images.ListImages(
            pb.ListImagesRequest(
                page_size=2, page_token=token, order_by="name", owner=tenant.project_id
            ),
            metadata=tenant.metadata,
        )
        assert len(page.images) <= 2
        seen += [i.id for i in page.images]
        token = page.next_page_token
        if not token:
            break
    assert seen == made


def _all_pages(images, tenant, order_by: str, token: str = "") -> list[str]:
    seen = []
    while True:
        page = images.ListImages(
            pb.ListImagesRequest(
                page_size=2, page_token=token, order_by=order_by, owner=tenant.project_id
            ),
            metadata=tenant.metadata,
        )
        seen += [i.id for i in page.images]
        token = page.next_page_token
        if not token:
            return seen


def test_list_in_descending_order_pages_through_everything_once(cloud, images):
    tenant = cloud.tenant()
    made = [images.create(tenant, name=f"img-{n}").id for n in range(5)]
    # Equal sizes: the id breaks the tie, in the same direction.
    assert _all_pages(images, tenant, "name desc") == made[::-1]
    assert _all_pages(images, tenant, "name asc") == made
    assert _all_pages(images, tenant, "size DESC") == sorted(made, reverse=True)


def test_a_page_token_holds_to_its_order(cloud, images):
    tenant = cloud.tenant()
    for n in range(3):
        images.create(tenant, name=f"img-{n}")
    first = images.ListImages(
        pb.ListImagesRequest(page_size=2, order_by="name", owner=tenant.project_id),
        metadata=tenant.metadata,
    )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        images.ListImages(
            pb.ListImagesRequest(
                page_size=2,
                order_by="name desc",
                owner=tenant.project_id,
                page_token=first.next_page_token,
            ),
            metadata=tenant.metadata,
        )


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"page_size": -1}, "page_size"),
        ({"order_by": "name sideways"}, "order_by"),
        ({"order_by": "name desc id"}, "order_by"),
        ({"order_by": "owner"}, "order_by"),
        ({"page_token": "forged"}, "page_token"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_bad_list_requests(cloud, images, request_fields, field):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        images.ListImages(pb.ListImagesRequest(**request_fields), metadata=cloud.tenant().metadata)


def test_admin_lists_every_project(cloud, images):
    image = images.create(cloud.tenant(), visibility=pb.IMAGE_VISIBILITY_PRIVATE)
    assert image.id in listed(images, cloud.tenant("admin"), owner=image.owner)


# --- update ------------------------------------------------------------------------------------


def test_update_fields(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant, tags=["old"], properties={"a": "1"})
    changed = update(
        images,
        tenant,
        pb.Image(
            id=image.id,
            name="renamed",
            min_ram=1024,
            tags=["new"],
            properties={"b": "2"},
            disk_format=pb.DISK_FORMAT_QCOW2,
            protected=True,
        ),
        "name",
        "min_ram",
        "tags",
        "properties",
        "disk_format",
        "protected",
    )
    assert (
        changed.name,
        changed.min_ram,
        list(changed.tags),
        dict(changed.properties),
        changed.disk_format,
        changed.protected,
    ) == ("renamed", 1024, ["new"], {"b": "2"}, pb.DISK_FORMAT_QCOW2, True)
    assert changed.min_disk == image.min_disk
    assert images.get(tenant, image.id) == changed


def test_formats_change_only_while_queued(cloud, images):
    tenant = cloud.tenant()
    image = images.active(tenant)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_NOT_QUEUED"):
        update(
            images, tenant, pb.Image(id=image.id, disk_format=pb.DISK_FORMAT_QCOW2), "disk_format"
        )
    assert images.get(tenant, image.id).disk_format == pb.DISK_FORMAT_RAW


@pytest.mark.parametrize(
    "paths, field",
    [
        ([], "update_mask"),
        (["status"], "update_mask"),
        (["owner"], "update_mask"),
        (["visibility"], "image.visibility"),
    ],
)
def test_bad_updates(cloud, images, paths, field):
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        update(images, tenant, pb.Image(id=image.id, status=pb.IMAGE_STATUS_ACTIVE), *paths)
    assert images.get(tenant, image.id) == image


def test_publicize_needs_admin_community_does_not(cloud, images):
    tenant = cloud.tenant()
    image = images.create(tenant)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        update(
            images,
            tenant,
            pb.Image(id=image.id, visibility=pb.IMAGE_VISIBILITY_PUBLIC),
            "visibility",
        )
    assert images.get(tenant, image.id).visibility == pb.IMAGE_VISIBILITY_SHARED
    community = update(
        images,
        tenant,
        pb.Image(id=image.id, visibility=pb.IMAGE_VISIBILITY_COMMUNITY),
        "visibility",
    )
    assert community.visibility == pb.IMAGE_VISIBILITY_COMMUNITY
    admin = cloud.tenant("admin")
    public = update(
        images, admin, pb.Image(id=image.id, visibility=pb.IMAGE_VISIBILITY_PUBLIC), "visibility"
    )
    assert public.visibility == pb.IMAGE_VISIBILITY_PUBLIC


# --- delete --------------------------------------------------------------------------------------


def test_delete_removes_record_and_data(cloud, images):
    tenant = cloud.tenant()
    image = images.active(tenant)
    assert images.stored_files(image.id) == [image.id]
    images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=tenant.metadata)
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"):
        images.get(tenant, image.id)
    assert images.stored_files(image.id) == []
    with raises(grpc.StatusCode.ALREADY_EXISTS, "IMAGE_EXISTS"):  # ids are never reused
        images.create(tenant, id=image.id)


def test_protected_image_cannot_be_deleted(cloud, images):
    tenant = cloud.tenant()
    data = b"precious" * 1000
    image = images.active(tenant, data, protected=True)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_PROTECTED"):
        images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=tenant.metadata)
    assert images.get(tenant, image.id) == image
    assert images.download(tenant, image.id)[1] == data
    update(images, tenant, pb.Image(id=image.id, protected=False), "protected")
    images.DeleteImage(pb.DeleteImageRequest(id=image.id), metadata=tenant.metadata)


# --- deactivate ----------------------------------------------------------------------------------


def test_deactivate_and_reactivate(cloud, images):
    tenant, admin = cloud.tenant(), cloud.tenant("admin")
    data = b"d" * 4096
    image = images.active(tenant, data)
    deactivate = pb.DeactivateImageRequest(id=image.id)
    with raises(grpc.StatusCode.PERMISSION_DENIED, "POLICY_DENIED"):
        images.DeactivateImage(deactivate, metadata=tenant.metadata)
    assert (
        images.DeactivateImage(deactivate, metadata=admin.metadata).status
        == pb.IMAGE_STATUS_DEACTIVATED
    )
    assert (
        images.DeactivateImage(deactivate, metadata=admin.metadata).status
        == pb.IMAGE_STATUS_DEACTIVATED
    )
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_DEACTIVATED"):
        images.download(tenant, image.id)
    assert images.download(admin, image.id)[1] == data
    reactivated = images.ReactivateImage(
        pb.ReactivateImageRequest(id=image.id), metadata=admin.metadata
    )
    assert reactivated.status == pb.IMAGE_STATUS_ACTIVE
    assert images.download(tenant, image.id)[1] == data


def test_queued_image_cannot_be_deactivated(cloud, images):
    image = images.create(cloud.tenant())
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "IMAGE_NOT_ACTIVE"):
        images.DeactivateImage(
            pb.DeactivateImageRequest(id=image.id), metadata=cloud.tenant("admin").metadata
        )


def test_anonymous_calls_are_refused(images):
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"):
        images.ListImages(pb.ListImagesRequest())
