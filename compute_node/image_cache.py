"""The node's image cache: verified base images keyed by image id, shared by instances.

On disk, so that references survive an agent restart:

    <root>/<image_id>/data            the verified bytes (written to tmp/, then renamed)
    <root>/<image_id>/meta.json       format, sizes, multihash
    <root>/<image_id>/refs/<uuid>     one empty file per instance using the image
    <root>/<image_id>/last_used       its mtime: when the image was last fetched or released
    <root>/tmp/                       downloads in progress

Content is inspected while it is written, by the same inspector the image service runs on
upload (controller/image/inspection.py): a declared format that does not match the content,
a failed safety check (a qcow2 with a backing file or an external data file, ...), or a
format this node does not boot is refused, and nothing is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
import uuid as uuid_mod
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass

from stratus_common import files
from stratus_common.errors import StratusError
from stratus_common.image_inspection import ImageInspector

# Kernels and ramdisks (Glance's aki/ari) are files QEMU loads as bytes, never disks.
BOOT_FILE_FORMATS = frozenset({"aki", "ari"})
DEFAULT_ALLOWED_FORMATS = frozenset({"raw", "qcow2"})


class ImageCacheError(Exception):
    pass


class ImageRejected(ImageCacheError):
    """The content failed verification or inspection; nothing was kept."""


class ImageNotCached(ImageCacheError):
    pass


@dataclass(frozen=True)
class CachedImage:
    image_id: str
    path: str
    disk_format: str  # raw or qcow2 (what the content is), or aki/ari (boot files)
    size: int
    virtual_size: int
    multihash: str


def _check_image_id(image_id: str) -> str:
    try:
        return str(uuid_mod.UUID(image_id))
    except (ValueError, TypeError, AttributeError):
        raise ImageCacheError(f"image id must be a UUID: {image_id!r}") from None


class ImageCache:
    def __init__(
        self,
        root: str,
        *,
        max_unused_age: float = 24 * 3600,
        allowed_formats: frozenset[str] = DEFAULT_ALLOWED_FORMATS,
        max_image_size: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.root = root
        self.max_unused_age = max_unused_age
        self.allowed_formats = allowed_formats
        self.max_image_size = max_image_size
        self.clock = clock
        self._lock = threading.Lock()  # acquire/release/prune run on several threads
        self._fetch_locks: dict[str, asyncio.Lock] = {}
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)

    def _dir(self, image_id: str) -> str:
        return os.path.join(self.root, _check_image_id(image_id))

    # -- reading -------------------------------------------------------------------------

    def get(self, image_id: str) -> CachedImage | None:
        directory = self._dir(image_id)
        try:
            with open(os.path.join(directory, "meta.json")) as f:
                meta = json.load(f)
        except FileNotFoundError:
            return None
        return CachedImage(image_id=image_id, path=os.path.join(directory, "data"), **meta)

    def image_ids(self) -> list[str]:
        return sorted(
            name
            for name in os.listdir(self.root)
            if name != "tmp" and os.path.exists(os.path.join(self.root, name, "meta.json"))
        )

    def references(self, image_id: str) -> set[str]:
        try:
            return set(os.listdir(os.path.join(self._dir(image_id), "refs")))
        except FileNotFoundError:
            return set()

    # -- fetching ------------------------------------------------------------------------

    async def fetch(
        self, image_id: str, chunks: AsyncIterable[bytes], *, multihash: str, disk_format: str
    ) -> CachedImage:
        """Return the cached image, downloading it from `chunks` first if needed.

        `multihash` is the sha512 hex digest the image service recorded; `disk_format` the
        declared format, which the content must match. Concurrent fetches of one image
        download it once.
        """
        lock = self._fetch_locks.setdefault(_check_image_id(image_id), asyncio.Lock())
        async with lock:
            cached = self.get(image_id)
            if cached is not None:
                if cached.multihash != multihash.lower():
                    raise ImageRejected(f"image {image_id} is cached with another checksum")
                self._touch(image_id)
                return cached
            return await self._download(image_id, chunks, multihash.lower(), disk_format)

    async def _download(self, image_id, chunks, multihash, disk_format) -> CachedImage:
        tmp_path = os.path.join(self.root, "tmp", f"{image_id}.{uuid_mod.uuid4().hex}")
        digest = hashlib.sha512()
        size = 0
        try:
            inspector = ImageInspector(disk_format)
            # opening is quick; the bytes move in worker threads
            with open(tmp_path, "wb", buffering=0) as out:  # noqa: ASYNC230
                async for chunk in chunks:
                    size += len(chunk)
                    if self.max_image_size is not None and size > self.max_image_size:
                        raise ImageRejected(
                            f"image {image_id} is larger than {self.max_image_size} bytes"
                        )
                    digest.update(chunk)
                    inspector.feed(chunk)
                    await asyncio.to_thread(files.write_all, out.fileno(), chunk)
                os.fsync(out.fileno())
            if digest.hexdigest() != multihash:
                raise ImageRejected(f"image {image_id} does not match its checksum")
            found, virtual_size = self._inspect(image_id, inspector)
            directory = self._dir(image_id)
            os.makedirs(os.path.join(directory, "refs"), exist_ok=True)
            os.rename(tmp_path, os.path.join(directory, "data"))
            meta = {
                "disk_format": found,
                "size": size,
                "virtual_size": virtual_size,
                "multihash": multihash,
            }
            meta_tmp = os.path.join(directory, "meta.json.tmp")
            with open(meta_tmp, "w") as f:  # noqa: ASYNC230 - a few bytes of metadata
                json.dump(meta, f)
            os.rename(meta_tmp, os.path.join(directory, "meta.json"))
            self._touch(image_id)
            return self.get(image_id)
        except StratusError as exc:
            raise ImageRejected(f"image {image_id}: {exc.message} ({exc.reason})") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)

    def _inspect(self, image_id: str, inspector: ImageInspector) -> tuple[str, int]:
        inspection = inspector.finish()
        if inspector.disk_format in BOOT_FILE_FORMATS:
            return inspector.disk_format, inspection.virtual_size
        # A whole-disk raw image carries a partition table, which oslo names "gpt".
        found = "raw" if inspection.format == "gpt" else inspection.format
        if found not in self.allowed_formats:
            raise ImageRejected(f"image {image_id} is {found}, which this node does not boot")
        return found, inspection.virtual_size

    # -- references ----------------------------------------------------------------------

    def acquire(self, image_id: str, instance_uuid: str) -> CachedImage:
        """Record that `instance_uuid` uses the image; the image is then never pruned."""
        with self._lock:
            cached = self.get(image_id)
            if cached is None:
                raise ImageNotCached(f"image {image_id} is not in the cache")
            open(
                os.path.join(self._dir(image_id), "refs", str(uuid_mod.UUID(instance_uuid))), "a"
            ).close()
            return cached

    def release(self, image_id: str, instance_uuid: str) -> None:
        """Idempotent."""
        with self._lock:
            try:
                os.unlink(
                    os.path.join(self._dir(image_id), "refs", str(uuid_mod.UUID(instance_uuid)))
                )
            except FileNotFoundError:
                return
            self._touch(image_id)

    def release_instance(self, instance_uuid: str) -> list[str]:
        """Drop every reference held by one instance; returns the image ids released."""
        released = []
        for image_id in self.image_ids():
            if instance_uuid in self.references(image_id):
                self.release(image_id, instance_uuid)
                released.append(image_id)
        return released

    # -- pruning -------------------------------------------------------------------------

    def _touch(self, image_id: str) -> None:
        path = os.path.join(self._dir(image_id), "last_used")
        now = self.clock()
        open(path, "a").close()
        os.utime(path, (now, now))

    def prune(self) -> list[str]:
        """Remove images without references unused for longer than `max_unused_age`."""
        removed = []
        now = self.clock()
        with self._lock:
            for image_id in self.image_ids():
                if self.references(image_id):
                    continue
                directory = self._dir(image_id)
                try:
                    last_used = os.stat(os.path.join(directory, "last_used")).st_mtime
                except FileNotFoundError:
                    last_used = 0.0
                if now - last_used >= self.max_unused_age:
                    # Rename first so a reader never sees half a directory.
                    doomed = os.path.join(self.root, "tmp", f"{image_id}.removed")
                    os.rename(directory, doomed)
                    shutil.rmtree(doomed, ignore_errors=True)
                    removed.append(image_id)
        return removed


async def file_chunks(path: str, chunk_size: int = 1 << 20):
    """An async chunk source reading a local file (tests, local imports)."""
    with open(path, "rb") as f:  # noqa: ASYNC230 - opening is quick; reads run in threads
        while True:
            chunk = await asyncio.to_thread(f.read, chunk_size)
            if not chunk:
                return
            yield chunk


def sha512_file(path: str) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
