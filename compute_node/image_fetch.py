"""Fetching a spawn's image from the controller, through failures to reach it.

A controller restart, a stream reconnecting, a reset connection or a stalled transfer says
nothing about the image: the fetch starts again (the cache keeps nothing of a broken
download) after an exponential back-off with full jitter, until the command's deadline.
A definitive answer fails at once: the image is not found or not allowed, or its bytes fail
verification (`ImageRejected`, a checksum mismatch or a refused format).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

import grpc

from compute_node.backoff import Backoff
from compute_node.image_cache import CachedImage, ImageCache
from compute_node.metrics import IMAGE_BYTES_FETCHED
from stratus_common import faults

LOG = logging.getLogger(__name__)

ImageSource = Callable[[str], AsyncIterable[bytes]]

# The call did not reach an image service that could answer, or it went away meanwhile
# (CANCELLED: the channel closed under the stream); RESOURCE_EXHAUSTED is a transfer limit.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class NotConnected(ConnectionError):
    """The agent has no stream to the controller at the moment."""


class FetchGaveUp(Exception):
    """Only transient failures, until the deadline; `last` is the latest of them."""

    def __init__(self, image_id: str, attempts: int, last: BaseException):
        super().__init__(
            f"could not reach the image service for image {image_id} in "
            f"{attempts} attempt(s) before the deadline: {describe(last)}"
        )
        self.last = last


@dataclass(frozen=True)
class FetchSettings:
    backoff_initial: float = 0.5
    backoff_max: float = 15.0
    # No bytes for this long: the stream is stalled, and the fetch starts again.
    stall_timeout: float = 30.0
    # For a command that names no deadline (a controller older than expires_at).
    default_deadline: float = 600.0


def describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name} {exc.details()}"
    return str(exc) or exc.__class__.__name__


def transient(exc: BaseException) -> bool:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in TRANSIENT_CODES
    # UsageError: "Channel is closed", the session that carried the fetch has ended.
    return isinstance(exc, (grpc.aio.UsageError, ConnectionError, TimeoutError))


async def _unstalled(chunks: AsyncIterable[bytes], stall_timeout: float):
    iterator = chunks.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), stall_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise TimeoutError(f"no image data for {stall_timeout:g} s") from None
        faults.point("image.receiving")
        IMAGE_BYTES_FETCHED.inc(len(chunk))
        yield chunk


class ImageFetcher:
    def __init__(
        self,
        cache: ImageCache,
        settings: FetchSettings = FetchSettings(),
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.cache = cache
        self.settings = settings
        self.clock = clock

    def deadline(self, expires_at: float | None) -> float:
        return expires_at or self.clock() + self.settings.default_deadline

    async def fetch(
        self,
        image_id: str,
        source: ImageSource,
        *,
        multihash: str,
        disk_format: str,
        deadline: float,
    ) -> CachedImage:
        """The cached image; raises FetchGaveUp at `deadline` (seconds since the epoch), or
        the first definitive failure as it came."""
        backoff = Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        attempts = 0
        while True:
            attempts += 1
            try:
                async with asyncio.timeout(max(0.0, deadline - self.clock())):
                    return await self.cache.fetch(
                        image_id,
                        _unstalled(source(image_id), self.settings.stall_timeout),
                        multihash=multihash,
                        disk_format=disk_format,
                    )
            except Exception as exc:
                if not transient(exc):
                    raise
                # An attempt the deadline cut short tells nothing new: the failure before it
                # is the one to report.
                cut_short = isinstance(exc, TimeoutError) and self.clock() >= deadline
                if not (cut_short and attempts > 1):
                    last = exc
            delay = backoff.next_delay()
            if self.clock() + delay >= deadline:
                raise FetchGaveUp(image_id, attempts, last) from last
            LOG.warning(
                "fetching image %s failed (%s); trying again in %.1f s",
                image_id,
                describe(last),
                delay,
            )
            await asyncio.sleep(delay)
