import dataclasses
import typing


@dataclasses.dataclass
class ImageSection:
    """[image]"""

    section: typing.ClassVar[str] = "image"
    # Where image data lives: {"backend": "file", ...backend options}. The file backend's
    # `directory` defaults to <state_dir>/images. Example:
    #   store = { backend = "file", directory = "/srv/stratus/images" }
    store: dict = dataclasses.field(default_factory=dict)
    # Largest image accepted, in bytes (Glance's default: 1 TiB).
    image_size_cap: int = 1 << 40
    # Bytes of image data a project may store (0: unlimited).
    project_storage_quota: int = 0
    image_member_quota: int = 128
    image_property_quota: int = 128
    image_tag_quota: int = 128
    # Size of the messages of a download. A download holds about three (one read ahead, one
    # being framed, grpc's copy being sent) even when its client reads nothing. Each message
    # costs a fixed amount of work besides its bytes: 1 MiB moves about 1.5x as fast as
    # 256 KiB, and 2 MiB no faster (bench/image_bench.py).
    download_chunk_size: int = 1024 * 1024
    # An upload whose controller stopped refreshing it for this long is given up: the image
    # is queued again and its temporary data removed (controller crash, lost replica).
    upload_stale_seconds: int = 300
    # How often that check and the store scrub run.
    scrub_interval: int = 60
