"""The image store interface: every backend stores opaque bytes under an image id.

A backend implements `Store` (name a location, open a `Writer`, read, delete, size) and
nothing else; the streaming session (`Upload`: hashing, the caller's verifier, clean-up on
failure) is shared here so every backend behaves the same.

Threading: every method is synchronous and may block on I/O. Async callers (the grpc.aio
image service) go through `store_backends.aio`, which runs a transfer's calls, one per
chunk, in a worker thread of that transfer. The md5 and sha512 digests of large chunks are
computed each in a thread of its own, beside the write and up to a few chunks behind it
(hashlib releases the GIL).
"""

from __future__ import annotations

import abc
import collections
import enum
import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

DEFAULT_CHUNK_SIZE = 1024 * 1024
HASH_ALGO = "sha512"
PARALLEL_HASH_BYTES = 256 * 1024
# Large chunks a digest may lag behind the write: the slower digest (md5) then runs all the
# time instead of waiting at every chunk for the other one and the write. Each lagging chunk
# stays in memory until both digests have taken it.
HASH_LAG_CHUNKS = 3


class _Digests:
    """md5 and sha512 of a stream, each updated in order by a thread of its own."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.hash = hashlib.new(HASH_ALGO)
        self._threads: list[ThreadPoolExecutor] = []
        self._pending: collections.deque[list[Future[None]]] = collections.deque()

    def update(self, chunk: bytes) -> None:
        if len(chunk) < PARALLEL_HASH_BYTES:
            self.wait()  # in order after the lagging ones
            self.md5.update(chunk)
            self.hash.update(chunk)
            return
        if not self._threads:
            self._threads = [
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-hash") for _ in range(2)
            ]
        self._pending.append(
            [
                t.submit(h.update, chunk)
                for t, h in zip(self._threads, (self.md5, self.hash), strict=True)
            ]
        )
        while len(self._pending) > HASH_LAG_CHUNKS:
            self._settle(self._pending.popleft())

    def wait(self) -> None:
        while self._pending:
            self._settle(self._pending.popleft())

    def close(self) -> None:
        for jobs in self._pending:
            for job in jobs:
                job.cancel()
        self._pending.clear()
        for thread in self._threads:
            thread.shutdown(wait=False)

    @staticmethod
    def _settle(jobs: list[Future[None]]) -> None:
        for job in jobs:
            job.result()


class StoreError(Exception):
    """Base of every error a backend raises."""


class NotFound(StoreError):
    """No data at this location."""


class Duplicate(StoreError):
    """Data for this image id is already stored."""


class StorageFull(StoreError):
    """The store has no room (disk full, quota, file size limit); nothing was kept."""


class InvalidLocation(StoreError):
    """A location or image id that this backend did not produce or would not accept."""


class BackendError(StoreError):
    """Any other failure of the underlying storage."""


class Capability(enum.Flag):
    READ_OFFSET = enum.auto()  # get() can start at a byte offset without reading the prefix
    ATOMIC_WRITE = enum.auto()  # data becomes visible whole or not at all
    SCRUB = enum.auto()  # scrub() finds debris left by interrupted writes


@dataclass(frozen=True)
class StoredImage:
    location: str
    size: int
    checksum: str  # legacy md5, hex
    os_hash_value: str  # hex digest of os_hash_algo
    os_hash_algo: str = HASH_ALGO


class Verifier:
    """Hook the caller passes to `Store.add`/`Store.begin` to inspect data as it flows.

    `update` sees each chunk before it is written; `finish` runs after the last chunk and
    before the data becomes visible. Raising from either aborts the upload: the backend
    removes everything it wrote and the exception reaches the caller unchanged.
    """

    def update(self, chunk: bytes) -> None:
        pass

    def finish(self, size: int, checksum: str, os_hash_value: str) -> None:
        pass


class Writer(abc.ABC):
    """One backend write in progress; `Upload` is its only user."""

    @abc.abstractmethod
    def write(self, chunk: bytes) -> None:
        """Append the chunk; StorageFull when there is no room."""

    @abc.abstractmethod
    def commit(self) -> str:
        """Make the data durable and visible; return its location. Duplicate if taken."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Remove everything written so far. Safe to call twice and after a failed commit."""


class Upload:
    """A streaming add: hashes on the fly, runs the verifier, cleans up on any failure.

    Use as a context manager, or call `abort()` yourself on failure. Each method is
    blocking; async callers use `store_backends.aio`.
    """

    def __init__(self, writer: Writer, verifier: Verifier | None = None):
        self._writer = writer
        self._verifier = verifier or Verifier()
        self._digests = _Digests()
        self._size = 0
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("upload already finished")
        try:
            self._verifier.update(chunk)
            self._digests.update(chunk)
            self._writer.write(chunk)
        except BaseException:
            self.abort()
            raise
        self._size += len(chunk)

    def commit(self) -> StoredImage:
        if self._done:
            raise RuntimeError("upload already finished")
        try:
            self._digests.wait()
            checksum = self._digests.md5.hexdigest()
            os_hash_value = self._digests.hash.hexdigest()
            self._verifier.finish(self._size, checksum, os_hash_value)
            location = self._writer.commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._digests.close()
        return StoredImage(
            location=location, size=self._size, checksum=checksum, os_hash_value=os_hash_value
        )

    def abort(self) -> None:
        self._done = True
        self._digests.close()
        self._writer.abort()

    def __enter__(self) -> Upload:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None or not self._done:
            self.abort()


class Store(abc.ABC):
    """A place for image bytes. Subclasses set `name` and `capabilities`."""

    name: str = ""
    capabilities: Capability = Capability(0)

    @abc.abstractmethod
    def location_for(self, image_id: str) -> str:
        """Where `add` puts the data of `image_id` (stores name data after the image)."""

    @abc.abstractmethod
    def writer(self, image_id: str) -> Writer:
        """Start writing the data of `image_id`; Duplicate if it is already stored."""

    @abc.abstractmethod
    def get(
        self, location: str, offset: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[bytes]:
        """Chunks from `offset` to the end. NotFound is raised by this call, not later."""

    @abc.abstractmethod
    def delete(self, location: str) -> None:
        """Remove the data; NotFound if there is none."""

    @abc.abstractmethod
    def get_size(self, location: str) -> int:
        """Stored size in bytes; NotFound if there is no data."""

    def exists(self, location: str) -> bool:
        try:
            self.get_size(location)
        except NotFound:
            return False
        return True

    def scrub(self, older_than: float = 0.0) -> list[str]:
        """Remove debris of interrupted writes older than `older_than` seconds; list it."""
        return []

    def begin(self, image_id: str, verifier: Verifier | None = None) -> Upload:
        return Upload(self.writer(image_id), verifier)

    def add(
        self, image_id: str, chunks: Iterable[bytes], verifier: Verifier | None = None
    ) -> StoredImage:
        """Store a whole stream; on any failure nothing is kept and the error propagates."""
        with self.begin(image_id, verifier) as upload:
            for chunk in chunks:
                upload.write(chunk)
            return upload.commit()
