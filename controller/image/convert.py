"""Image rows and values as protobuf messages, and protobuf enums as the stored words."""

from controller.image import vocabulary as v
from controller.rpc.convert import timestamp
from stratus.image.v1 import image_service_pb2 as pb


def _enum(prefix: str, words) -> dict:
    return {
        word: pb.DESCRIPTOR.enum_types_by_name[prefix]
        .values_by_name[f"{_snake(prefix)}_{word.upper()}"]
        .number
        for word in words
    }


def _snake(name: str) -> str:
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


STATUS = _enum("ImageStatus", v.STATUSES)
VISIBILITY = _enum("ImageVisibility", v.VISIBILITIES)
DISK_FORMAT = _enum("DiskFormat", v.DISK_FORMATS)
CONTAINER_FORMAT = _enum("ContainerFormat", v.CONTAINER_FORMATS)
MEMBER_STATUS = _enum("MemberStatus", v.MEMBER_STATUSES)
# Proto enum number -> stored word; UNSPECIFIED (0) -> None.
STATUS_WORD = {n: w for w, n in STATUS.items()}
VISIBILITY_WORD = {n: w for w, n in VISIBILITY.items()}
DISK_FORMAT_WORD = {n: w for w, n in DISK_FORMAT.items()}
CONTAINER_FORMAT_WORD = {n: w for w, n in CONTAINER_FORMAT.items()}
MEMBER_STATUS_WORD = {n: w for w, n in MEMBER_STATUS.items()}


def image(row) -> pb.Image:
    message = pb.Image(
        id=row.id,
        name=row.name,
        owner=row.owner,
        status=STATUS[row.status],
        visibility=VISIBILITY[row.visibility],
        protected=row.protected,
        disk_format=DISK_FORMAT.get(row.disk_format, 0),
        container_format=CONTAINER_FORMAT.get(row.container_format, 0),
        min_disk=row.min_disk,
        min_ram=row.min_ram,
        checksum=row.checksum or "",
        os_hash_algo=row.os_hash_algo or "",
        os_hash_value=row.os_hash_value or "",
        tags=row.tags,
        properties=row.properties,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    if row.has_data:
        message.size = row.size
    if row.virtual_size is not None:
        message.virtual_size = row.virtual_size
    return message


def member(row) -> pb.Member:
    return pb.Member(
        image_id=row.image_id,
        member_id=row.member_id,
        status=MEMBER_STATUS[row.status],
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def data_info(info) -> pb.ImageDataInfo:
    return pb.ImageDataInfo(
        size=info.size,
        offset=info.offset,
        checksum=info.checksum,
        os_hash_algo=info.os_hash_algo,
        os_hash_value=info.os_hash_value,
        disk_format=DISK_FORMAT[info.disk_format],
        container_format=CONTAINER_FORMAT[info.container_format],
    )
