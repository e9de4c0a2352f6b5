"""Helpers of the compute API tests: a stub, images and hosts as records."""

from __future__ import annotations

import time
import uuid

from controller.compute.records.models import ComputeNode
from controller.db.queries import utcnow
from controller.image.models import Image, ImageProperty
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.support.cloud import unique

GIB = 1024**3


class ImageRecords:
    """Images written as records of the real image registry, for states and sizes an upload
    cannot easily make (huge, stuck queued); the compute API reads them through its real
    image port."""

    def __init__(self, db):
        self.db = db

    def add(
        self,
        status="active",
        size_bytes=GIB // 2,
        owner: str | None = None,
        virtual_size_bytes=0,
        min_ram_mb=0,
        min_disk_gb=0,
        **properties,
    ) -> str:
        """Public unless an owner is named (then private to that project)."""
        image_id, now = str(uuid.uuid4()), utcnow()

        def write():
            Image.create(
                id=image_id,
                owner=owner or "o",
                status=status,
                visibility="private" if owner else "public",
                disk_format="raw",
                size=size_bytes,
                virtual_size=virtual_size_bytes,
                min_ram=min_ram_mb,
                min_disk=min_disk_gb,
                created_at=now,
                updated_at=now,
            )
            for name, value in properties.items():
                ImageProperty.create(image=image_id, name=name, value=value)

        self.db.call(write)
        return image_id


def add_hosts(
    db,
    count: int,
    *,
    zone: str | None = None,
    vcpus=8,
    memory_mb=16384,
    disk_gb=200,
    cpu_ratio: float | None = None,
    up=True,
    enabled=True,
    **kw,
) -> tuple[str, list]:
    """Compute hosts as database records (no agent); all in one new zone unless named."""
    zone = zone or unique("az")
    now = utcnow()
    rows = [
        dict(
            id=str(uuid.uuid4()),
            hostname=unique("host"),
            availability_zone=zone,
            enabled=enabled,
            disabled_reason="",
            heartbeat_at=now if up else None,
            vcpus=vcpus,
            memory_mb=memory_mb,
            memory_mb_reserved=0,
            disk_gb=disk_gb,
            cpu_allocation_ratio=cpu_ratio,
            ram_allocation_ratio=None,
            disk_allocation_ratio=None,
            architecture="x86_64",
            hypervisor_type="qemu",
            hypervisor_version="9000000",
            host_ip="192.0.2.1",
            created_at=now,
            updated_at=now,
            **kw,
        )
        for _ in range(count)
    ]
    db.call(lambda: ComputeNode.insert_many(rows).execute())
    return zone, rows


def heartbeat(db, node_ids) -> None:
    db.call(
        lambda: (
            ComputeNode.update(heartbeat_at=utcnow())
            .where(ComputeNode.id.in_(list(node_ids)))
            .execute()
        )
    )


class Compute:
    def __init__(self, cloud, images: ImageRecords | None):
        self.cloud = cloud
        self.stub = pb_grpc.ComputeServiceStub(cloud.channel)
        self.image_stub = ipb_grpc.ImageServiceStub(cloud.channel)
        self.images = images

    def image(self, **fields) -> str:
        """A real, active, public image in the image service (64 KiB of raw data)."""
        made = self.image_stub.CreateImage(
            ipb.CreateImageRequest(
                image=ipb.Image(
                    name=unique("img"),
                    visibility=ipb.IMAGE_VISIBILITY_PUBLIC,
                    disk_format=ipb.DISK_FORMAT_RAW,
                    container_format=ipb.CONTAINER_FORMAT_BARE,
                    **fields,
                )
            ),
            metadata=self.cloud.admin,
        )
        self.image_stub.UploadImageData(
            iter([ipb.UploadImageDataRequest(image_id=made.id, data=b"\0" * 65536, last=True)]),
            metadata=self.cloud.admin,
        )
        return made.id

    def flavor(self, vcpus=1, ram_mb=256, disk_gb=1, **kw) -> pb.Flavor:
        return self.stub.CreateFlavor(
            pb.CreateFlavorRequest(
                flavor=pb.Flavor(
                    name=unique("flavor"),
                    vcpus=vcpus,
                    ram_mb=ram_mb,
                    disk_gb=disk_gb,
                    is_public=kw.pop("is_public", True),
                    **kw,
                )
            ),
            metadata=self.cloud.admin,
        )

    def unlimited(self, project_id: str) -> None:
        limits = pb.QuotaValues(
            instances=-1,
            cores=-1,
            ram_mb=-1,
            key_pairs=-1,
            server_groups=-1,
            server_group_members=-1,
        )
        self.stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(project_id=project_id, limits=limits),
                update_mask={
                    "paths": [
                        f"limits.{n}"
                        for n in (
                            "instances",
                            "cores",
                            "ram_mb",
                            "key_pairs",
                            "server_groups",
                            "server_group_members",
                        )
                    ]
                },
            ),
            metadata=self.cloud.admin,
        )

    def create(self, tenant, flavor_id, image_id, zone="", request_id="", **server) -> pb.Server:
        return self.stub.CreateServer(
            pb.CreateServerRequest(
                server=pb.Server(
                    name=server.pop("name", unique("vm")),
                    flavor_id=flavor_id,
                    image_id=image_id,
                    availability_zone=zone,
                    **server,
                ),
                request_id=request_id,
            ),
            metadata=tenant.metadata,
        )

    def get(self, tenant, server_id) -> pb.Server:
        return self.stub.GetServer(pb.GetServerRequest(id=server_id), metadata=tenant.metadata)

    def wait_placed(self, tenant, server_id, timeout=30) -> pb.Server:
        """Until the server leaves scheduling: placed (task SPAWNING) or ERROR."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.stub.GetServer(
                pb.GetServerRequest(id=server_id), metadata=self.cloud.admin
            )
            if server.task_state != pb.TASK_STATE_SCHEDULING:
                return server
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} still scheduling after {timeout}s")
            time.sleep(0.02)
