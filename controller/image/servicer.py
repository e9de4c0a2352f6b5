"""stratus.image.v1.ImageService: validate, convert, call the registry, convert back."""

from __future__ import annotations

import re

from google.protobuf import empty_pb2

from controller import validation
from controller.auth import context as auth_context
from controller.db.paging import page_request
from controller.image import convert, images
from controller.image.access import Caller
from controller.image.registry import ImageRegistry
from controller.image.upload import Expected
from controller.image.vocabulary import ACCEPTED, COMMUNITY, PUBLIC
from controller.limits.slots import Slots
from controller.metrics import IMAGE_BYTES
from controller.rpc import encoded
from controller.rpc.convert import changes as mask_changes
from controller.rpc.convert import optional
from controller.rpc.policy_spec import rpc
from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc
from stratus_common import errors

EMPTY = empty_pb2.Empty()
_UPLOADED, _DOWNLOADED = IMAGE_BYTES.labels("upload"), IMAGE_BYTES.labels("download")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_DOWNLOAD_DATA = pb.DownloadImageDataResponse.DATA_FIELD_NUMBER


def _auth():
    auth = auth_context.current.get()
    return auth, Caller(project_id=auth.project_id, is_admin=auth.is_admin)


def _word(words: dict, number: int, field: str, required: bool = False):
    """A protobuf enum value as the stored word; UNSPECIFIED is None (or refused)."""
    if number == 0 and not required:
        return None
    if number not in words:
        raise errors.InvalidArgument(field, "is not a valid value" if number else "is required")
    return words[number]


def _image_fields(image: pb.Image, paths) -> dict:
    """The values of `paths` of an Image message, as the domain stores them."""
    fields = mask_changes(image, paths & {"name", "protected", "min_disk", "min_ram"})
    if "visibility" in paths:
        fields["visibility"] = _word(convert.VISIBILITY_WORD, image.visibility, "image.visibility")
    if "disk_format" in paths:
        fields["disk_format"] = _word(
            convert.DISK_FORMAT_WORD, image.disk_format, "image.disk_format"
        )
    if "container_format" in paths:
        fields["container_format"] = _word(
            convert.CONTAINER_FORMAT_WORD, image.container_format, "image.container_format"
        )
    if "tags" in paths:
        fields["tags"] = list(image.tags)
    if "properties" in paths:
        fields["properties"] = dict(image.properties)
    return fields


def _digest(field: str, value: str, length: int) -> str:
    if value and (len(value) != length or not _HEX.match(value)):
        raise errors.InvalidArgument(field, f"must be {length} hexadecimal digits")
    return value


def _create_target(request, auth) -> dict:
    return {"project_id": request.image.owner or auth.project_id or ""}


def _order(text: str) -> tuple[str, str]:
    """AIP-132 order_by: a field, optionally followed by asc or desc."""
    words = text.split()
    field = words[0] if words else "create_time"
    direction = words[1].lower() if len(words) > 1 else "asc"
    if field not in images.ORDER_BY or direction not in ("asc", "desc") or len(words) > 2:
        raise errors.InvalidArgument(
            "order_by",
            f"must be one of {', '.join(images.ORDER_BY)}, optionally followed by asc or desc",
        )
    return field, direction


class ImageServicer(pb_grpc.ImageServiceServicer):
    def __init__(self, registry: ImageRegistry, slots: Slots):
        self.registry = registry
        self.slots = slots

    # -- records ------------------------------------------------------------------------------
    @rpc("image:create_image", target=_create_target)
    async def CreateImage(self, request, context):
        auth, caller = _auth()
        image = request.image
        fields = _image_fields(image, images.UPDATABLE)
        if image.id:
            fields["id"] = validation.uuid("image.id", image.id)
        fields["owner"] = validation.uuid("image.owner", image.owner or caller.project_id or "")
        validation.text("request_id", request.request_id, 64)
        if fields.get("visibility") == PUBLIC:
            auth.authorize("image:publicize_image", _create_target(request, auth))
        if fields.get("visibility") == COMMUNITY:
            auth.authorize("image:communitize_image", _create_target(request, auth))
        return convert.image(await self.registry.create(caller, fields, request.request_id))

    @rpc("image:get_image", deferred=True)
    async def GetImage(self, request, context):
        auth, caller = _auth()
        row = await self.registry.get(caller, validation.uuid("id", request.id), auth.authorize)
        return convert.image(row)

    @rpc("image:list_images")
    async def ListImages(self, request, context):
        _, caller = _auth()
        order_by, direction = _order(request.order_by)
        filters = images.ListFilters(
            name=request.name,
            status=_word(convert.STATUS_WORD, request.status, "status"),
            visibility=_word(convert.VISIBILITY_WORD, request.visibility, "visibility"),
            owner=validation.optional_uuid("owner", request.owner),
            tags=sorted(set(request.tags)),
            properties=dict(sorted(request.properties.items())),
            size_min=optional(request, "size_min"),
            size_max=optional(request, "size_max"),
            member_status=_word(convert.MEMBER_STATUS_WORD, request.member_status, "member_status")
            or ACCEPTED,
            disk_format=_word(convert.DISK_FORMAT_WORD, request.disk_format, "disk_format"),
            container_format=_word(
                convert.CONTAINER_FORMAT_WORD, request.container_format, "container_format"
            ),
            protected=optional(request, "protected"),
            order_by=order_by,
            descending=direction == "desc",
        )
        page = page_request(request.page_size, request.page_token, vars(filters))
        rows, token = await self.registry.list(caller, page, filters)
        return pb.ListImagesResponse(images=[convert.image(r) for r in rows], next_page_token=token)

    @rpc("image:update_image", deferred=True)
    async def UpdateImage(self, request, context):
        auth, caller = _auth()
        image_id = validation.uuid("image.id", request.image.id)
        paths = validation.update_mask(request.update_mask.paths, images.UPDATABLE)
        changes = _image_fields(request.image, paths)
        if "visibility" in changes and changes["visibility"] is None:
            raise errors.InvalidArgument("image.visibility", "is required")
        row = await self.registry.update(caller, image_id, changes, auth.authorize)
        return convert.image(row)

    @rpc("image:delete_image", deferred=True)
    async def DeleteImage(self, request, context):
        auth, caller = _auth()
        await self.registry.delete(caller, validation.uuid("id", request.id), auth.authorize)
        return EMPTY

    @rpc("image:deactivate_image")
    async def DeactivateImage(self, request, context):
        _, caller = _auth()
        row = await self.registry.set_active(caller, validation.uuid("id", request.id), False)
        return convert.image(row)

    @rpc("image:reactivate_image")
    async def ReactivateImage(self, request, context):
        _, caller = _auth()
        row = await self.registry.set_active(caller, validation.uuid("id", request.id), True)
        return convert.image(row)

    # -- data ---------------------------------------------------------------------------------
    @rpc("image:upload_image", deferred=True)
    async def UploadImageData(self, request_iterator, context):
        auth, caller = _auth()
        with self.slots.transfers.hold(auth.user_id):
            return await self._upload(auth, caller, request_iterator)

    async def _upload(self, auth, caller, request_iterator):
        messages = request_iterator.__aiter__()
        try:
            first = await messages.__anext__()
        except StopAsyncIteration:
            raise errors.InvalidArgument(
                "image_id", "send the image id in the first message"
            ) from None
        image_id = validation.uuid("image_id", first.image_id)
        size = optional(first, "size")
        if size is not None and size < 0:
            raise errors.InvalidArgument("size", "must not be negative")
        expected = Expected(
            size=size,
            os_hash_value=_digest("expected_os_hash_value", first.expected_os_hash_value, 128),
            checksum=_digest("expected_checksum", first.expected_checksum, 32),
        )

        async def chunks():
            # A cancelled client's stream can end like a finished one (grpc.aio ends it before
            # it cancels this handler): only the client's word completes the data.
            ended = first.last
            # Each read of a bytes field copies it: read it once.
            if data := first.data:
                _UPLOADED.inc(len(data))
                yield data
            async for message in messages:
                if ended:
                    raise errors.InvalidArgument(
                        "last", "no message may follow the one marked last"
                    )
                if data := message.data:
                    _UPLOADED.inc(len(data))
                    yield data
                ended = message.last
            if not (ended or expected.checks_completeness):
                raise errors.InvalidArgument(
                    "last",
                    "the stream ended without a message marked last, and no size or digest was "
                    "declared: the data may have been cut short",
                )

        row = await self.registry.upload(caller, image_id, chunks(), expected, auth.authorize)
        return convert.image(row)

    @rpc("image:download_image", deferred=True)
    async def DownloadImageData(self, request, context):
        auth, caller = _auth()
        if request.offset < 0:
            raise errors.InvalidArgument(
                "offset", "must not be negative", reason="OFFSET_OUT_OF_RANGE"
            )
        with self.slots.transfers.hold(auth.user_id):
            info, chunks = await self.registry.download(
                caller,
                validation.uuid("image_id", request.image_id),
                request.offset,
                auth.authorize,
            )
            yield pb.DownloadImageDataResponse(info=convert.data_info(info))
            async for chunk in chunks:
                _DOWNLOADED.inc(len(chunk))
                yield encoded.bytes_field(_DOWNLOAD_DATA, chunk)

    # -- members ------------------------------------------------------------------------------
    @rpc("image:add_member", deferred=True)
    async def AddMember(self, request, context):
        auth, caller = _auth()
        row = await self.registry.add_member(
            caller,
            validation.uuid("image_id", request.image_id),
            validation.uuid("member_id", request.member_id),
            auth.authorize,
        )
        return convert.member(row)

    @rpc("image:get_member", deferred=True)
    async def GetMember(self, request, context):
        auth, caller = _auth()
        row = await self.registry.get_member(
            caller,
            validation.uuid("image_id", request.image_id),
            validation.uuid("member_id", request.member_id),
            auth.authorize,
        )
        return convert.member(row)

    @rpc("image:list_members", deferred=True)
    async def ListMembers(self, request, context):
        auth, caller = _auth()
        image_id = validation.uuid("image_id", request.image_id)
        page = page_request(request.page_size, request.page_token, {"image_id": image_id})
        rows, token = await self.registry.list_members(caller, image_id, page, auth.authorize)
        return pb.ListMembersResponse(
            members=[convert.member(r) for r in rows], next_page_token=token
        )

    @rpc("image:update_member", deferred=True)
    async def UpdateMember(self, request, context):
        auth, caller = _auth()
        status = _word(convert.MEMBER_STATUS_WORD, request.status, "status", required=True)
        row = await self.registry.update_member(
            caller,
            validation.uuid("image_id", request.image_id),
            validation.uuid("member_id", request.member_id),
            status,
            auth.authorize,
        )
        return convert.member(row)

    @rpc("image:remove_member", deferred=True)
    async def RemoveMember(self, request, context):
        auth, caller = _auth()
        await self.registry.remove_member(
            caller,
            validation.uuid("image_id", request.image_id),
            validation.uuid("member_id", request.member_id),
            auth.authorize,
        )
        return EMPTY
