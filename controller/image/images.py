"""Image records: create, read, list, update, delete, deactivate (plain functions on the database).

The data itself is the business of upload.py and download.py; these functions only ever
change a record, always inside one transaction that re-reads it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import peewee

from controller.db.paging import paginate
from controller.db.queries import utcnow
from controller.image import metadata
from controller.image.access import Caller, get_visible, memberships
from controller.image.models import Image, ImageProperty, ImageTag
from controller.image.vocabulary import (
    ACCEPTED,
    ACTIVE,
    AMAZON_FORMATS,
    COMMUNITY,
    DEACTIVATED,
    DELETED,
    PRIVATE,
    PUBLIC,
    QUEUED,
    SHARED,
)
from stratus_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument

UPDATABLE = {
    "name",
    "visibility",
    "protected",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "tags",
    "properties",
}
# Only while the image has no data (Glance: formats describe the data).
FORMAT_FIELDS = {"disk_format", "container_format"}
ORDER_BY = {
    "name": Image.name,
    "status": Image.status,
    "size": Image.size,
    "create_time": Image.created_at,
    "update_time": Image.updated_at,
}


@dataclass
class ListFilters:
    name: str = ""
    status: str | None = None
    visibility: str | None = None
    owner: str | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    member_status: str = ACCEPTED
    disk_format: str | None = None
    container_format: str | None = None
    protected: bool | None = None
    order_by: str = "create_time"
    descending: bool = False


def check_fields(fields: dict, settings) -> dict:
    """Checks the values an image is created or updated with (already converted to words)."""
    if "name" in fields and len(fields["name"]) > 255:
        raise InvalidArgument("image.name", "must be at most 255 characters")
    for key in ("min_disk", "min_ram"):
        if fields.get(key, 0) < 0:
            raise InvalidArgument(f"image.{key}", "must not be negative")
    if "tags" in fields:
        fields["tags"] = metadata.check_tags(fields["tags"], settings.image_tag_quota)
    if "properties" in fields:
        fields["properties"] = metadata.check_properties(
            fields["properties"], settings.image_property_quota
        )
    return fields


def _check_format_pair(disk_format: str | None, container_format: str | None) -> None:
    if (
        disk_format
        and container_format
        and disk_format != container_format
        and (disk_format in AMAZON_FORMATS or container_format in AMAZON_FORMATS)
    ):
        raise InvalidArgument(
            "image.container_format",
            "ami, aki and ari images use the same word for disk and container format",
            reason="INVALID_FORMAT_COMBINATION",
        )


def create(db, settings, caller: Caller, fields: dict, request_id: str = "") -> Image:
    """A QUEUED image owned by fields["owner"] (already authorized). A retry with the same
    request_id returns the image the first attempt made."""
    check_fields(fields, settings)
    _check_format_pair(fields.get("disk_format"), fields.get("container_format"))
    owner = fields["owner"]
    image_id = fields.get("id") or str(uuid.uuid4())
    now = utcnow()
    try:
        with db.write_transaction():
            existing = _by_request(owner, request_id)
            if existing is not None:
                return existing
            if Image.select().where(Image.id == image_id).exists():  # deleted ids too
                raise _exists(image_id)
            image = Image.create(
                id=image_id,
                name=fields.get("name", ""),
                owner=owner,
                status=QUEUED,
                visibility=fields.get("visibility") or SHARED,
                protected=fields.get("protected", False),
                disk_format=fields.get("disk_format"),
                container_format=fields.get("container_format"),
                min_disk=fields.get("min_disk", 0),
                min_ram=fields.get("min_ram", 0),
                size=0,
                request_id=request_id or None,
                created_at=now,
                updated_at=now,
            )
            metadata.replace_tags(image.id, fields.get("tags", []))
            metadata.replace_properties(image.id, fields.get("properties", {}))
    except peewee.IntegrityError:
        # A concurrent create won the race for this id or request_id.
        existing = _by_request(owner, request_id)
        if existing is None:
            raise _exists(image_id) from None
        return existing
    return metadata.attach([image])[0]


def _by_request(owner: str, request_id: str) -> Image | None:
    if not request_id:
        return None
    image = Image.get_or_none((Image.owner == owner) & (Image.request_id == request_id))
    return metadata.attach([image])[0] if image is not None else None


def _exists(image_id: str) -> AlreadyExists:
    return AlreadyExists(
        f"an image with id {image_id} already exists", reason="IMAGE_EXISTS", image_id=image_id
    )


def get(caller: Caller, image_id: str) -> Image:
    return metadata.attach([get_visible(image_id, caller)])[0]


def list_(caller: Caller, page, f: ListFilters):
    query = Image.select().where(Image.status != DELETED)
    if caller.is_admin:
        if f.visibility:
            query = query.where(Image.visibility == f.visibility)
    else:
        query = query.where(_visibility_clause(caller, f))
    if f.name:
        query = query.where(Image.name == f.name)
    for value, column in (
        (f.status, Image.status),
        (f.owner, Image.owner),
        (f.disk_format, Image.disk_format),
        (f.container_format, Image.container_format),
        (f.protected, Image.protected),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.size_min is not None:
        query = query.where(Image.size >= f.size_min)
    if f.size_max is not None:
        query = query.where(Image.size <= f.size_max)
    for tag in f.tags:
        query = query.where(
            Image.id.in_(ImageTag.select(ImageTag.image).where(ImageTag.tag == tag))
        )
    for name, value in f.properties.items():
        query = query.where(
            Image.id.in_(
                ImageProperty.select(ImageProperty.image).where(
                    (ImageProperty.name == name) & (ImageProperty.value == value)
                )
            )
        )
    keys = [ORDER_BY[f.order_by], Image.id]
    rows, token = paginate(query, page, [k.desc() for k in keys] if f.descending else keys)
    return metadata.attach(rows), token


def _visibility_clause(caller: Caller, f: ListFilters):
    own = Image.owner == (caller.project_id or "")
    shared_with_me = (Image.visibility == SHARED) & Image.id.in_(
        memberships(caller.project_id, [f.member_status])
    )
    if f.visibility is None:
        return own | (Image.visibility == PUBLIC) | shared_with_me
    if f.visibility in (PUBLIC, COMMUNITY):
        return Image.visibility == f.visibility
    if f.visibility == PRIVATE:
        return own & (Image.visibility == PRIVATE)
    return (own & (Image.visibility == SHARED)) | shared_with_me


def update(db, settings, caller: Caller, image_id: str, changes: dict) -> Image:
    """Applies checked changes (policy already enforced, publicize included)."""
    check_fields(changes, settings)
    with db.write_transaction():
        image = get_visible(image_id, caller, for_update=True)
        formats = FORMAT_FIELDS & changes.keys()
        if (
            formats
            and image.status != QUEUED
            and any(changes[k] != getattr(image, k) for k in formats)
        ):
            raise FailedPrecondition(
                f"the formats of an image can change only while it is queued; it is {image.status}",
                reason="IMAGE_NOT_QUEUED",
                image_id=image_id,
                status=image.status,
            )
        _check_format_pair(
            changes.get("disk_format", image.disk_format),
            changes.get("container_format", image.container_format),
        )
        for key in UPDATABLE - {"tags", "properties"}:
            if key in changes:
                setattr(image, key, changes[key])
        image.updated_at = utcnow()
        image.save()
        if "tags" in changes:
            metadata.replace_tags(image.id, changes["tags"])
        if "properties" in changes:
            metadata.replace_properties(image.id, changes["properties"])
    return metadata.attach([image])[0]


def mark_deleted(db, caller: Caller, image_id: str) -> str | None:
    """DELETED, unless protected; returns the data's location for the caller to remove."""
    with db.write_transaction():
        image = get_visible(image_id, caller, for_update=True)
        if image.protected:
            raise FailedPrecondition(
                "the image is protected; unprotect it first",
                reason="IMAGE_PROTECTED",
                image_id=image_id,
            )
        location = image.location
        now = utcnow()
        Image.update(
            status=DELETED, deleted_at=now, updated_at=now, location=None, upload_id=None
        ).where(Image.id == image_id).execute()
    return location


def set_active(db, caller: Caller, image_id: str, active: bool) -> Image:
    """Deactivate (active -> deactivated) or reactivate (deactivated -> active); repeating
    either is a no-op, as in Glance."""
    wanted, other = (ACTIVE, DEACTIVATED) if active else (DEACTIVATED, ACTIVE)
    with db.write_transaction():
        image = get_visible(image_id, caller, for_update=True)
        if image.status == other:
            image.status, image.updated_at = wanted, utcnow()
            image.save()
        elif image.status != wanted:
            verb = "reactivated" if active else "deactivated"
            raise FailedPrecondition(
                f"only an active or deactivated image can be {verb}; it is {image.status}",
                reason="IMAGE_NOT_ACTIVE",
                image_id=image_id,
                status=image.status,
            )
    return metadata.attach([image])[0]


def usage(owner: str, excluding: str | None = None) -> int:
    """Bytes of data the project stores (active and deactivated images)."""
    query = Image.select(peewee.fn.COALESCE(peewee.fn.SUM(Image.size), 0)).where(
        (Image.owner == owner) & Image.status.in_([ACTIVE, DEACTIVATED])
    )
    if excluding:
        query = query.where(Image.id != excluding)
    return int(query.scalar() or 0)
