"""Uploads and deletions cancelled while one of their steps runs in a worker thread.

grpc.aio may end a cancelled client's request stream as if the client had finished it, and
cancel the handler only afterwards: the cancellation can land while the store creates or
commits the data, or while the record is activated. Each step is held in its thread here, the
call is cancelled there, then the step goes on: the image must end QUEUED with nothing
stored, or ACTIVE with all its data; a deleted image keeps no data.
"""

import asyncio
import os
import threading

import pytest

from controller.image import images as records
from controller.image import upload
from controller.image.access import Caller
from controller.image.registry import ImageRegistry
from controller.image.upload import Uploader
from store_backends.file import FileStore
from stratus.image.v1 import image_service_pb2 as pb

DATA = os.urandom(4 * 65536)


class Gate:
    """Holds a call in the thread that makes it until the test opens the gate."""

    def __init__(self):
        self.reached, self.opened = threading.Event(), threading.Event()

    def hold(self, fn):
        def held(*args, **kwargs):
            self.reached.set()
            self.opened.wait(30)
            return fn(*args, **kwargs)

        return held


class HeldStore(FileStore):
    """The file store, holding the start or the commit of each upload at the gate."""

    def __init__(self, directory, step: str, gate: Gate):
        super().__init__(str(directory))
        self.step, self.gate = step, gate

    def begin(self, image_id, verifier=None):
        if self.step == "begin":
            return self.gate.hold(super().begin)(image_id, verifier)
        started = super().begin(image_id, verifier)
        started.commit = self.gate.hold(started.commit)
        return started


class HeldDatabase:
    """The controller's database, holding one domain function (`held`) at the gate."""

    def __init__(self, db, gate: Gate, held=upload.activate):
        self.db, self.gate, self.held = db, gate, held

    def __getattr__(self, name):
        return getattr(self.db, name)

    async def run(self, fn, *args, **kwargs):
        if fn is self.held:
            fn = self.gate.hold(fn)
        return await self.db.run(fn, *args, **kwargs)


def cancel_at_the_gate(controller, gate: Gate, coro):
    """Runs `coro` on the controller's loop and cancels it once a step reached the gate."""

    async def run():
        task = asyncio.create_task(coro)
        try:
            assert await asyncio.to_thread(gate.reached.wait, 30)
            task.cancel()
        finally:
            gate.opened.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    controller.run(run())


async def chunks():
    for start in range(0, len(DATA), 65536):
        yield DATA[start : start + 65536]


@pytest.mark.parametrize("step", ["begin", "commit", "activate"])
def test_upload_cancelled_while_a_step_runs_in_its_thread(cloud, images, controller, step):
    tenant = cloud.tenant()
    image = images.create(tenant)
    app, gate = controller.app, Gate()
    store = HeldStore(images.store_dir, step, gate) if step != "activate" else app.image_store
    db = HeldDatabase(app.db, gate) if step == "activate" else app.db
    uploader = Uploader(db, store, app.images.settings)
    cancel_at_the_gate(
        controller, gate, uploader.upload(Caller(tenant.project_id), image.id, chunks())
    )
    status = images.get(tenant, image.id).status
    if step == "activate":  # the record was being made ACTIVE: it is, with its data
        assert status == pb.IMAGE_STATUS_ACTIVE
        assert images.stored_files(image.id) == [image.id]
        assert images.download(tenant, image.id)[1] == DATA
    else:
        assert status == pb.IMAGE_STATUS_QUEUED
        assert images.stored_files(image.id) == []
        assert images.upload(tenant, image.id, b"second try").status == pb.IMAGE_STATUS_ACTIVE


def test_delete_cancelled_while_the_record_is_marked_deleted_removes_the_data(
    cloud, images, controller
):
    tenant = cloud.tenant()
    image = images.active(tenant, DATA)
    app, gate = controller.app, Gate()
    registry = ImageRegistry(
        HeldDatabase(app.db, gate, records.mark_deleted), app.image_store, app.images.settings
    )
    cancel_at_the_gate(
        controller,
        gate,
        registry.delete(Caller(tenant.project_id), image.id, lambda rule, target: None),
    )
    assert images.stored_files(image.id) == []
