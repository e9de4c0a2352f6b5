"""Image members: the projects a SHARED image is offered to, and their answers.

The owner adds and removes members; only the member project itself accepts or rejects.
Policy is checked by the caller (registry.py); these functions keep the state rules.
"""

from __future__ import annotations

from controller.db.paging import paginate
from controller.db.queries import utcnow
from controller.image.access import Caller, get_visible
from controller.image.models import ImageMember
from controller.image.vocabulary import PENDING, SHARED
from stratus_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)


def _not_found(image_id: str, member_id: str) -> NotFound:
    return NotFound(
        f"project {member_id} is not a member of image {image_id}",
        reason="MEMBER_NOT_FOUND",
        image_id=image_id,
        member_id=member_id,
    )


def _row(image_id: str, member_id: str) -> ImageMember:
    row = ImageMember.get_or_none(
        (ImageMember.image == image_id) & (ImageMember.member_id == member_id)
    )
    if row is None:
        raise _not_found(image_id, member_id)
    return row


def add(db, settings, caller: Caller, image_id: str, member_id: str) -> ImageMember:
    with db.write_transaction():
        image = get_visible(image_id, caller, for_update=True)
        if image.visibility != SHARED:
            raise FailedPrecondition(
                f"only shared images have members; this one is {image.visibility}",
                reason="IMAGE_NOT_SHARED",
                image_id=image_id,
                visibility=image.visibility,
            )
        if member_id == image.owner:
            raise InvalidArgument(
                "member_id", "the owner project cannot be a member of its own image"
            )
        members = ImageMember.select().where(ImageMember.image == image_id)
        if members.where(ImageMember.member_id == member_id).exists():
            raise AlreadyExists(
                f"project {member_id} is already a member of image {image_id}",
                reason="MEMBER_EXISTS",
                image_id=image_id,
                member_id=member_id,
            )
        if members.count() >= settings.image_member_quota:
            raise ResourceExhausted(
                f"an image may have at most {settings.image_member_quota} members",
                reason="IMAGE_MEMBER_QUOTA_EXCEEDED",
                limit=settings.image_member_quota,
            )
        now = utcnow()
        return ImageMember.create(
            image=image_id, member_id=member_id, status=PENDING, created_at=now, updated_at=now
        )


def get(caller: Caller, image_id: str, member_id: str) -> ImageMember:
    get_visible(image_id, caller)
    return _row(image_id, member_id)


def list_(caller: Caller, image_id: str, page):
    """The owner (and admins) see every member; a member project sees only itself."""
    image = get_visible(image_id, caller)
    query = ImageMember.select().where(ImageMember.image == image_id)
    if not caller.is_admin and caller.project_id != image.owner:
        query = query.where(ImageMember.member_id == (caller.project_id or ""))
    return paginate(query, page, [ImageMember.member_id])


def set_status(db, caller: Caller, image_id: str, member_id: str, status: str) -> ImageMember:
    with db.write_transaction():
        get_visible(image_id, caller)
        row = _row(image_id, member_id)
        row.status, row.updated_at = status, utcnow()
        row.save()
    return row


def remove(db, caller: Caller, image_id: str, member_id: str) -> None:
    with db.write_transaction():
        get_visible(image_id, caller)
        deleted = (
            ImageMember.delete()
            .where((ImageMember.image == image_id) & (ImageMember.member_id == member_id))
            .execute()
        )
    if not deleted:
        raise _not_found(image_id, member_id)
