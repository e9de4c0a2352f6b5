"""Asyncio adapters: a store's blocking calls run in a worker thread of their own per transfer.

The event loop never touches the disk. Each transfer keeps one chunk in the worker while the
loop handles the next (an upload writes chunk N while chunk N+1 arrives; a download reads
ahead by one chunk), so disk and network overlap and memory stays at two chunks whatever the
image size. One worker per transfer also keeps its calls in order: a clean-up queued after
a write can never run before it.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from store_backends.base import DEFAULT_CHUNK_SIZE, Store, StoredImage, Verifier

log = logging.getLogger(__name__)
_END = object()


class _Worker:
    """One thread running a transfer's blocking calls in the order they are submitted."""

    def __init__(self, name: str):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn, *args) -> asyncio.Future:
        context = contextvars.copy_context()      # request id for the logs
        return asyncio.wrap_future(self._pool.submit(context.run, fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False)           # calls already queued still run


async def add(store: Store, image_id: str, chunks: AsyncIterable[bytes],
              verifier: Verifier | None = None) -> StoredImage:
    """Like `Store.add`, for an async stream. On any failure, cancellation included,
    nothing is kept and the error propagates."""
    worker = _Worker("image-upload")
    try:
        upload = await worker.submit(store.begin, image_id, verifier)
        try:
            writing = None
            async for chunk in chunks:
                if writing is not None:
                    await writing
                writing = worker.submit(upload.write, chunk)
            if writing is not None:
                await writing
            return await worker.submit(upload.commit)
        except BaseException:
            # Queued behind any write still running; shielded so a cancelled client still
            # leaves no temporary data behind.
            try:
                await asyncio.shield(worker.submit(upload.abort))
            except Exception:       # noqa: BLE001 - keep the first error; scrub() removes debris
                log.exception("cannot remove the data of an aborted upload")
            raise
    finally:
        worker.close()


async def get(store: Store, location: str, offset: int = 0,
              chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Like `Store.get`; errors such as NotFound surface on the first iteration."""
    worker = _Worker("image-download")
    try:
        chunks = await worker.submit(store.get, location, offset, chunk_size)
        try:
            reading = worker.submit(next, chunks, _END)
            while (chunk := await reading) is not _END:
                reading = worker.submit(next, chunks, _END)
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                worker.submit(close)          # after the read-ahead, on the same thread
    finally:
        worker.close()
