"""Asyncio adapters: run a store's blocking calls in worker threads, one call per chunk.

The event loop never touches the disk; at most one chunk per transfer is in flight, so
memory stays constant whatever the image size.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator

from store_backends.base import DEFAULT_CHUNK_SIZE, Store, StoredImage, Verifier

log = logging.getLogger(__name__)
_END = object()


async def add(store: Store, image_id: str, chunks: AsyncIterable[bytes],
              verifier: Verifier | None = None) -> StoredImage:
    """Like `Store.add`, for an async stream. On any failure, cancellation included,
    nothing is kept and the error propagates."""
    upload = await asyncio.to_thread(store.begin, image_id, verifier)
    try:
        async for chunk in chunks:
            await asyncio.to_thread(upload.write, chunk)
        return await asyncio.to_thread(upload.commit)
    except BaseException:
        # Shielded: a cancelled client must still leave no temporary data behind.
        try:
            await asyncio.shield(asyncio.to_thread(upload.abort))
        except Exception:       # noqa: BLE001 - keep the first error; scrub() removes debris
            log.exception("cannot remove the data of an aborted upload")
        raise


async def get(store: Store, location: str, offset: int = 0,
              chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Like `Store.get`; errors such as NotFound surface on the first iteration."""
    chunks = await asyncio.to_thread(store.get, location, offset, chunk_size)
    try:
        while (chunk := await asyncio.to_thread(next, chunks, _END)) is not _END:
            yield chunk
    finally:
        # Closing only releases the file; quick enough for the event loop.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
