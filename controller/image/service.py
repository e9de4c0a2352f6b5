"""Wires the image area into the controller.

Sets on the app:
- `app.images`: the ImageRegistry (async; every method takes a Caller);
- `app.image_store`: the configured store backend (store_backends.Store);
- `app.image_port`: what other areas may ask of images (controller/image/port.py).
At start, and every [image] scrub_interval seconds, dead uploads are given up and temporary
data is scrubbed; at start, images whose data is missing from the store are logged.
"""

from __future__ import annotations

from pathlib import Path

from controller.image import policies, reconcile
from controller.image.config import ImageSection
from controller.image.port import ImagePort
from controller.image.registry import ImageRegistry
from controller.image.servicer import ImageServicer
from store_backends import Store, load_backend
from stratus.image.v1 import image_service_pb2 as pb


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
    app.image_port = ImagePort(app.db, store, settings)
    app.enforcer.register(policies.RULES)
    app.add_public_service(
        ImageServicer(registry, app.slots), pb.DESCRIPTOR.services_by_name["ImageService"]
    )

    async def start(app):
        await reconcile.reconcile(app.db, store, settings, check_data=True)

    async def periodically():
        await reconcile.run_periodically(app.db, store, settings)

    app.on_start.append(start)
    app.background.append(periodically)
