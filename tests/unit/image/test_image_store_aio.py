"""The asyncio adapters: blocking store calls run off the event loop, clean-up on cancel."""

import asyncio
import hashlib
import os
import threading
import uuid

import pytest

from store_backends import NotFound, Verifier, aio
from store_backends.file import FileStore


@pytest.fixture
def store(tmp_path):
    return FileStore(str(tmp_path / "images"))


async def stream(data: bytes, size: int = 8192, pause: asyncio.Event | None = None):
    for start in range(0, len(data), size):
        yield data[start : start + size]
    if pause is not None:
        await pause.wait()


def test_add_and_get_from_an_async_stream(store):
    data = os.urandom(50_000)
    image_id = str(uuid.uuid4())

    async def main():
        stored = await aio.add(store, image_id, stream(data))
        back = [c async for c in aio.get(store, stored.location, offset=10, chunk_size=4096)]
        return stored, b"".join(back)

    stored, back = asyncio.run(main())
    assert stored.os_hash_value == hashlib.sha512(data).hexdigest()
    assert back == data[10:]


def test_blocking_work_runs_off_the_event_loop(store):
    threads = set()

    class Where(Verifier):
        def update(self, chunk):
            threads.add(threading.get_ident())

    async def main():
        loop_thread = threading.get_ident()
        await aio.add(store, str(uuid.uuid4()), stream(bytes(30_000)), Where())
        return loop_thread

    loop_thread = asyncio.run(main())
    assert threads and loop_thread not in threads


def test_cancelled_upload_leaves_nothing(store):
    async def main():
        never = asyncio.Event()
        task = asyncio.create_task(
            aio.add(store, str(uuid.uuid4()), stream(bytes(30_000), pause=never))
        )
        # Until the temporary file exists (mid-upload): a file system has no event to await.
        while not os.listdir(store.directory):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert os.listdir(store.directory) == []


def test_upload_cancelled_while_it_commits_leaves_nothing(store):
    """The commit goes on in its thread after the cancellation; the clean-up follows it."""
    committing, go_on = threading.Event(), threading.Event()

    class Held(Verifier):
        def finish(self, size, checksum, os_hash_value):
            committing.set()
            go_on.wait(30)

    async def main():
        task = asyncio.create_task(aio.add(store, str(uuid.uuid4()), stream(bytes(30_000)), Held()))
        try:
            assert await asyncio.to_thread(committing.wait, 30)
            task.cancel()
        finally:
            go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert os.listdir(store.directory) == []


def test_settle_waits_for_the_work_then_delivers_the_cancellation():
    started, go_on = threading.Event(), threading.Event()

    def work():
        started.set()
        go_on.wait(30)
        return "done"

    async def main():
        outcome = []

        async def caller():
            outcome.append(await aio.settle(asyncio.to_thread(work)))
            await asyncio.sleep(30)

        task = asyncio.create_task(caller())
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return outcome

    assert asyncio.run(main()) == ["done"]


def test_missing_data_surfaces_on_first_iteration(store):
    async def main():
        with pytest.raises(NotFound):
            async for _ in aio.get(store, store.location_for(str(uuid.uuid4()))):
                pass

    asyncio.run(main())
