"""The image service's domain entry point: records, data and members, with their policy checks.

Every method takes the caller and, where the rule depends on the loaded image, an
`authorize(rule, target)` that raises PermissionDenied (the call's policy check). It speaks
plain Python only: the servicer converts protobuf on either side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from controller.image import access, images, members, metadata
from controller.image.access import Caller
from controller.image.upload import Expected, Uploader
from controller.image.vocabulary import ACTIVE, COMMUNITY, DEACTIVATED, PUBLIC
from controller.logs import fields
from store_backends import NotFound as StoreNotFound
from store_backends import Store, aio
from stratus_common.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)

Authorize = Callable[[str, dict], None]


@dataclass(frozen=True)
class DataInfo:
    size: int
    offset: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    disk_format: str
    container_format: str


def _load(image_id: str, caller: Caller):
    image = access.get_visible(image_id, caller)
    return image, access.target(image, caller)


class ImageRegistry:
    def __init__(self, db, store: Store, settings):
        self.db, self.store, self.settings = db, store, settings
        self.uploader = Uploader(db, store, settings)

    async def _authorized(self, caller: Caller, image_id: str, rule: str, authorize: Authorize):
        image, target = await self.db.run(_load, image_id, caller)
        authorize(rule, target)
        return image, target

    # -- records ------------------------------------------------------------------------------
    async def create(self, caller: Caller, fields_: dict, request_id: str = ""):
        """`fields_["owner"]` set and authorized (image:create_image) by the caller."""
        return await self.db.run(images.create, self.db, self.settings, caller, fields_, request_id)

    async def get(self, caller: Caller, image_id: str, authorize: Authorize):
        image, _ = await self._authorized(caller, image_id, "image:get_image", authorize)
        return (await self.db.run(metadata.attach, [image]))[0]

    async def list(self, caller: Caller, page, filters: images.ListFilters):
        return await self.db.run(images.list_, caller, page, filters)

    async def update(self, caller: Caller, image_id: str, changes: dict, authorize: Authorize):
        image, target = await self._authorized(caller, image_id, "image:update_image", authorize)
        wanted = changes.get("visibility")
        if wanted == PUBLIC and image.visibility != PUBLIC:
            authorize("image:publicize_image", target)
        if wanted == COMMUNITY and image.visibility != COMMUNITY:
            authorize("image:communitize_image", target)
        return await self.db.run(images.update, self.db, self.settings, caller, image_id, changes)

    async def delete(self, caller: Caller, image_id: str, authorize: Authorize) -> None:
        await self._authorized(caller, image_id, "image:delete_image", authorize)
        # Settled: a caller gone mid-way must not leave the data of a deleted image behind.
        location = await aio.settle(self.db.run(images.mark_deleted, self.db, caller, image_id))
        if location:
            try:
                await aio.settle(asyncio.to_thread(self.store.delete, location))
            except StoreNotFound:
                pass
            except Exception:  # the record is gone; the operator sees this
                log.exception(
                    "cannot remove the data of a deleted image", extra=fields(image_id=image_id)
                )

    async def set_active(self, caller: Caller, image_id: str, active: bool):
        """Deactivate/reactivate; the rules (admin) are checked before."""
        return await self.db.run(images.set_active, self.db, caller, image_id, active)

    # -- data ---------------------------------------------------------------------------------
    async def upload(
        self,
        caller: Caller,
        image_id: str,
        chunks: AsyncIterable[bytes],
        expected: Expected,
        authorize: Authorize,
    ):
        await self._authorized(caller, image_id, "image:upload_image", authorize)
        return await self.uploader.upload(caller, image_id, chunks, expected)

    async def download(
        self, caller: Caller, image_id: str, offset: int, authorize: Authorize
    ) -> tuple[DataInfo, AsyncIterator[bytes]]:
        image, _ = await self._authorized(caller, image_id, "image:download_image", authorize)
        if image.status == DEACTIVATED and not caller.is_admin:
            raise FailedPrecondition(
                "the image is deactivated: only admins may download it",
                reason="IMAGE_DEACTIVATED",
                image_id=image_id,
            )
        if image.status not in (ACTIVE, DEACTIVATED):
            raise FailedPrecondition(
                f"the image has no data (it is {image.status})",
                reason="IMAGE_HAS_NO_DATA",
                image_id=image_id,
                status=image.status,
            )
        if not 0 <= offset <= image.size:
            raise InvalidArgument(
                "offset",
                f"must be between 0 and the image size, {image.size}",
                reason="OFFSET_OUT_OF_RANGE",
            )
        info = DataInfo(
            image.size,
            offset,
            image.checksum,
            image.os_hash_algo,
            image.os_hash_value,
            image.disk_format,
            image.container_format,
        )
        return info, self._chunks(image_id, image.location, offset)

    async def _chunks(self, image_id: str, location: str, offset: int) -> AsyncIterator[bytes]:
        try:
            async for chunk in aio.get(
                self.store, location, offset, self.settings.download_chunk_size
            ):
                yield chunk
        except StoreNotFound:
            log.error("image data is missing from the store", extra=fields(image_id=image_id))
            raise NotFound(
                "the image's data is missing from the store",
                reason="IMAGE_DATA_MISSING",
                image_id=image_id,
            ) from None

    # -- members ------------------------------------------------------------------------------
    def _member_target(self, image, member_id: str) -> dict:
        return {"project_id": image.owner, "member_id": member_id, "visibility": image.visibility}

    async def _member_call(self, caller, image_id, member_id, rule, authorize):
        image, _ = await self.db.run(_load, image_id, caller)
        authorize(rule, self._member_target(image, member_id))

    async def add_member(self, caller: Caller, image_id: str, member_id: str, authorize: Authorize):
        await self._authorized(caller, image_id, "image:add_member", authorize)
        return await self.db.run(members.add, self.db, self.settings, caller, image_id, member_id)

    async def get_member(self, caller: Caller, image_id: str, member_id: str, authorize: Authorize):
        await self._member_call(caller, image_id, member_id, "image:get_member", authorize)
        return await self.db.run(members.get, caller, image_id, member_id)

    async def list_members(self, caller: Caller, image_id: str, page, authorize: Authorize):
        await self._authorized(caller, image_id, "image:list_members", authorize)
        return await self.db.run(members.list_, caller, image_id, page)

    async def update_member(
        self, caller: Caller, image_id: str, member_id: str, status: str, authorize: Authorize
    ):
        await self._member_call(caller, image_id, member_id, "image:update_member", authorize)
        return await self.db.run(members.set_status, self.db, caller, image_id, member_id, status)

    async def remove_member(
        self, caller: Caller, image_id: str, member_id: str, authorize: Authorize
    ):
        await self._authorized(caller, image_id, "image:remove_member", authorize)
        await self.db.run(members.remove, self.db, caller, image_id, member_id)
