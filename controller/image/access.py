"""Who sees which image: the visibility rules of Glance, as query clauses and policy targets.

A project sees its own images, public and community images, and shared images it is a member
of (listing shows only those it accepted, unless asked otherwise). Admins see every image.
Anything else is NOT_FOUND: another project's private image is never confirmed to exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.db import database
from controller.db.prepared import Param, Prepared
from controller.image.models import Image, ImageMember
from controller.image.vocabulary import COMMUNITY, DELETED, PUBLIC, SHARED
from stratus_common.errors import NotFound


@dataclass(frozen=True)
class Caller:
    project_id: str | None
    is_admin: bool = False


def not_found(image_id: str) -> NotFound:
    return NotFound(f"image {image_id} not found", reason="IMAGE_NOT_FOUND", image_id=image_id)


def memberships(project_id, statuses=None):
    """Ids of the images `project_id` (a value or a Param) is a member of (with one of
    `statuses`, if given)."""
    query = ImageMember.select(ImageMember.image).where(ImageMember.member_id == (project_id or ""))
    if statuses:
        query = query.where(ImageMember.status.in_(list(statuses)))
    return query


def visible_clause(project_id):
    """Every image a non-admin caller of `project_id` (a value or a Param) may see by id
    (membership of any status counts)."""
    own = Image.owner == (project_id or "")
    shared = (Image.visibility == SHARED) & Image.id.in_(memberships(project_id))
    return own | Image.visibility.in_([PUBLIC, COMMUNITY]) | shared


def _live_by_id(visible_to_project: bool, for_update: bool) -> Prepared:
    """A live image by id, prepared: every CreateServer and every image Get runs one."""

    def build():
        query = Image.select().where((Image.id == Param("id")) & (Image.status != DELETED))
        if visible_to_project:
            query = query.where(visible_clause(Param("project_id")))
        return database.for_update(query) if for_update else query

    return Prepared(build)


_BY_ID = {
    (visible, locked): _live_by_id(visible, locked)
    for visible in (True, False)
    for locked in (True, False)
}


def get_visible(image_id: str, caller: Caller, for_update: bool = False) -> Image:
    image = _BY_ID[not caller.is_admin, for_update].first(
        id=image_id, project_id=caller.project_id or ""
    )
    if image is None:
        raise not_found(image_id)
    return image


def is_member(image: Image, project_id: str | None) -> bool:
    return (
        bool(project_id)
        and ImageMember.select()
        .where((ImageMember.image == image.id) & (ImageMember.member_id == project_id))
        .exists()
    )


def target(image: Image, caller: Caller) -> dict:
    """The policy target of an image: see controller/image/policies.py."""
    member = image.visibility == SHARED and is_member(image, caller.project_id)
    return {
        "project_id": image.owner,
        "visibility": image.visibility,
        "member_id": caller.project_id if member else None,
    }
