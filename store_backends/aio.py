"""Asyncio adapters: a store's blocking calls run in a worker thread of their own per transfer.

The event loop never touches the disk. Each transfer keeps one chunk in the worker while the
loop handles the next (an upload writes chunk N while chunk N+1 arrives; a download reads
ahead by one chunk), so disk and network overlap and memory stays at a few chunks whatever
the image size (an upload's digests may lag HASH_LAG_CHUNKS behind its write). One worker
per transfer also keeps its calls in order: a clean-up queued after a write can never run
before it.

Cancelling a task does not stop a call already running in a thread: a commit may finish after
its caller was cancelled, unseen. Clean-up therefore acts on what the calls really did (the
transfer's state, kept on the worker thread), and `settle` waits for such work to its end.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from store_backends.base import DEFAULT_CHUNK_SIZE, Store, StoredImage, Upload, Verifier

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Worker:
    """One thread running a transfer's blocking calls in the order they are submitted."""

    def __init__(self, name: str):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        context = contextvars.copy_context()  # request id for the logs
        return asyncio.wrap_future(self._pool.submit(context.run, fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False)  # calls already queued still run


async def settle(work: Awaitable[T]) -> T:
    """The outcome of `work` (a future or coroutine) once it has ended, even if the calling
    task is cancelled meanwhile: the work goes on regardless, and what follows must act on
    what it really did. A cancellation received meanwhile is raised at the next await."""
    future = asyncio.ensure_future(work)
    task = asyncio.current_task()
    assert task is not None, "settle() runs inside a task"
    interrupted = False
    try:
        while True:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                if future.cancelled():
                    raise
                task.uncancel()
                interrupted = True
    finally:
        if interrupted:
            task.cancel()


class _Transfer:
    """An upload as its worker thread sees it: what was begun and committed, whether or not
    anyone was still awaiting the result."""

    def __init__(self, store: Store, image_id: str, verifier: Verifier | None):
        self._store, self._image_id, self._verifier = store, image_id, verifier
        self._upload: Upload | None = None
        self._stored: StoredImage | None = None

    def begin(self) -> None:
        self._upload = self._store.begin(self._image_id, self._verifier)

    def write(self, chunk: bytes) -> None:
        assert self._upload is not None, "begin() first"
        self._upload.write(chunk)

    def commit(self) -> StoredImage:
        assert self._upload is not None, "begin() first"
        self._stored = self._upload.commit()
        return self._stored

    def undo(self) -> None:
        if self._stored is not None:  # committed after its caller had given up
            self._store.delete(self._stored.location)
        elif self._upload is not None:
            self._upload.abort()


async def add(
    store: Store, image_id: str, chunks: AsyncIterable[bytes], verifier: Verifier | None = None
) -> StoredImage:
    """Like `Store.add`, for an async stream. On any failure, cancellation included, nothing
    is kept and the error propagates, once the data is gone."""
    worker = _Worker("image-upload")
    transfer = _Transfer(store, image_id, verifier)
    try:
        await worker.submit(transfer.begin)
        writing: asyncio.Future[None] | None = None
        async for chunk in chunks:
            if writing is not None:
                await writing
            writing = worker.submit(transfer.write, chunk)
        if writing is not None:
            await writing
        return await worker.submit(transfer.commit)
    except BaseException:
        # Queued behind every call already handed to the worker, so it runs after them.
        try:
            await settle(worker.submit(transfer.undo))
        except Exception:  # keep the first error; scrub() removes debris
            log.exception("cannot remove the data of an aborted upload")
        raise
    finally:
        worker.close()


async def get(
    store: Store, location: str, offset: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """Like `Store.get`; errors such as NotFound surface on the first iteration."""
    worker = _Worker("image-download")
    try:
        chunks = await worker.submit(store.get, location, offset, chunk_size)
        try:
            # A store's chunks are bytes, never None: None marks the end.
            reading = worker.submit(next, chunks, None)
            while (chunk := await reading) is not None:
                reading = worker.submit(next, chunks, None)
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                worker.submit(close)  # after the read-ahead, on the same thread
    finally:
        worker.close()
