"""Tags and free-form properties: their checks, storage, and loading for many images at once."""

from __future__ import annotations

import re

from controller.db.prepared import Param, Prepared
from controller.image.models import ImageProperty, ImageTag
from controller.image.vocabulary import RESERVED_PREFIX, RESERVED_PROPERTIES
from stratus_common.errors import InvalidArgument, ResourceExhausted

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_tags(tags, quota: int, field: str = "image.tags") -> list[str]:
    unique = list(dict.fromkeys(tags))
    for tag in unique:
        if not tag or len(tag) > 255 or _CONTROL.search(tag):
            raise InvalidArgument(
                field,
                "each tag must be 1-255 characters without control characters",
                reason="INVALID_TAG",
            )
    if len(unique) > quota:
        raise ResourceExhausted(
            f"an image may carry at most {quota} tags",
            reason="IMAGE_TAG_QUOTA_EXCEEDED",
            limit=quota,
        )
    return unique


def check_properties(properties: dict, quota: int, field: str = "image.properties") -> dict:
    for name, value in properties.items():
        if not name or len(name) > 255 or _CONTROL.search(name):
            raise InvalidArgument(
                field,
                "property names must be 1-255 characters without control characters",
                reason="INVALID_PROPERTY",
            )
        if name in RESERVED_PROPERTIES or name.startswith(RESERVED_PREFIX):
            raise InvalidArgument(
                f"{field}.{name}",
                "is a reserved name; use the image field or another name",
                reason="RESERVED_PROPERTY",
            )
        if len(value) > 65535:
            raise InvalidArgument(
                f"{field}.{name}", "values are at most 65535 characters", reason="INVALID_PROPERTY"
            )
    if len(properties) > quota:
        raise ResourceExhausted(
            f"an image may carry at most {quota} properties",
            reason="IMAGE_PROPERTY_QUOTA_EXCEEDED",
            limit=quota,
        )
    return dict(properties)


def replace_tags(image_id: str, tags: list[str]) -> None:
    ImageTag.delete().where(ImageTag.image == image_id).execute()
    if tags:
        ImageTag.insert_many([{"image": image_id, "tag": t} for t in tags]).execute()


def replace_properties(image_id: str, properties: dict) -> None:
    ImageProperty.delete().where(ImageProperty.image == image_id).execute()
    if properties:
        ImageProperty.insert_many(
            [{"image": image_id, "name": k, "value": v} for k, v in properties.items()]
        ).execute()


def _tags_of(images):
    """(image id, tag) rows of `images` (an expression of ids), in tag order."""
    return (
        ImageTag.select(ImageTag.image, ImageTag.tag)
        .where(ImageTag.image.in_(images))
        .order_by(ImageTag.tag)
        .tuples()
    )


def _properties_of(images):
    """(image id, name, value) rows of `images`."""
    return (
        ImageProperty.select(ImageProperty.image, ImageProperty.name, ImageProperty.value)
        .where(ImageProperty.image.in_(images))
        .tuples()
    )


# One image's metadata, prepared: every image Get and every CreateServer reads it.
_TAGS_OF_ONE = Prepared(lambda: _tags_of([Param("id")]))
_PROPERTIES_OF_ONE = Prepared(lambda: _properties_of([Param("id")]))


def attach(images: list) -> list:
    """Sets `.tags` and `.properties` on each image row, two queries for the whole list."""
    ids = [image.id for image in images]
    tags: dict[str, list[str]] = {i: [] for i in ids}
    properties: dict[str, dict] = {i: {} for i in ids}
    if len(ids) == 1:
        tag_rows, property_rows = _TAGS_OF_ONE.rows(id=ids[0]), _PROPERTIES_OF_ONE.rows(id=ids[0])
    elif ids:
        tag_rows, property_rows = _tags_of(ids), _properties_of(ids)
    else:
        tag_rows = property_rows = ()
    for image_id, tag in tag_rows:
        tags[image_id].append(tag)
    for image_id, name, value in property_rows:
        properties[image_id][name] = value
    for image in images:
        image.tags, image.properties = tags[image.id], properties[image.id]
    return images
