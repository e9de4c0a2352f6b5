"""Wires the image area into the controller.

Sets on the app:
- `app.images`: the ImageRegistry (async; every method takes a Caller);
- `app.image_store`: the configured store backend (store_backends.Store);
- `app.image_lookup(image_id, project_id, is_admin)`: the compute API's port
  (controller.compute.api.images.ImageLookup), an ImageInfo or None when not visible;
  called in a database worker.
At start, and every [image] scrub_interval seconds, dead uploads are given up and temporary
data is scrubbed; at start, images whose data is missing from the store are logged.
"""
from __future__ import annotations

from pathlib import Path

from controller.image import images, policies, reconcile
from controller.image.access import Caller
from controller.image.config import ImageSection
from controller.image.registry import ImageRegistry
from controller.image.servicer import ImageServicer
from store_backends import Store, load_backend
from stratus.image.v1 import image_service_pb2 as pb
from stratus_common.errors import NotFound


def open_store(config) -> Store:
    settings = config.section(ImageSection)
    options = dict(settings.store)
    if options.get("backend", "file") == "file":
        options.setdefault("directory", str(Path(config.controller.state_dir) / "images"))
    return load_backend(options)


def setup(app):
    settings = app.config.section(ImageSection)
    store = open_store(app.config)
    registry = ImageRegistry(app.db, store, settings)
    app.images, app.image_store = registry, store
    app.image_lookup = image_lookup
    app.enforcer.register(policies.RULES)
    app.add_public_service(ImageServicer(registry), pb.DESCRIPTOR.services_by_name["ImageService"])

    async def start(app):
        await reconcile.reconcile(app.db, store, settings, check_data=True)

    async def periodically():
        await reconcile.run_periodically(app.db, store, settings)

    app.on_start.append(start)
    app.background.append(periodically)


def image_lookup(image_id: str, project_id: str, is_admin: bool):
    from controller.compute.api.images import ImageInfo
    try:
        row = images.get(Caller(project_id, is_admin), image_id)
    except NotFound:
        return None
    return ImageInfo(id=row.id, status=row.status, size_bytes=row.size,
                     virtual_size_bytes=row.virtual_size or 0, min_ram_mb=row.min_ram,
                     min_disk_gb=row.min_disk,
                     architecture=row.properties.get("architecture", ""),
                     hypervisor_type=row.properties.get("hypervisor_type", ""))
