"""The default store: one file per image in a local (or shared) directory.

A write goes to a hidden temporary file in the same directory, is fsynced, then linked to
its real name (link refuses to replace an existing image, unlike rename) and the directory
is fsynced: a crash leaves either the whole image or a temporary file that `scrub()` removes.
With `direct_io` the data bypasses the page cache (O_DIRECT), staged in one aligned buffer
per upload; a filesystem that refuses O_DIRECT gets buffered writes.
Paths are only ever built from a validated UUID, and locations are accepted only if they
name a file directly inside the directory.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import re
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from store_backends.base import (
    DEFAULT_CHUNK_SIZE,
    BackendError,
    Capability,
    Duplicate,
    InvalidLocation,
    NotFound,
    StorageFull,
    Store,
    Writer,
)
from stratus_common import files

DEFAULT_DIRECTORY = "/var/lib/stratus/images"
TEMP_SUFFIX = ".part"
# Hidden, so it can never be taken for an image: ".<image uuid>.<random>.part"
_TEMP_NAME = re.compile(r"^\.[0-9a-f-]{36}\.[A-Za-z0-9_]+\.part$")
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# Direct writes go out in whole multiples of this, from a page-aligned buffer this big.
DIRECT_STAGE_BYTES = 1024 * 1024


def _checked_id(image_id: str) -> str:
    """Only the canonical lower-case UUID form, so one image has exactly one file name."""
    try:
        canonical = str(uuid.UUID(image_id))
    except (ValueError, TypeError, AttributeError):
        raise InvalidLocation("image id must be a UUID") from None
    if canonical != image_id:
        raise InvalidLocation("image id must be a lower-case hyphenated UUID")
    return canonical


def _storage_error(exc: OSError, what: str) -> Exception:
    if exc.errno in _FULL:
        return StorageFull(f"no room to {what}: {os.strerror(exc.errno)}")
    return BackendError(f"cannot {what}: {exc.strerror or exc}")


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore(Store):
    name = "file"
    capabilities = Capability.READ_OFFSET | Capability.ATOMIC_WRITE | Capability.SCRUB

    def __init__(
        self,
        directory: str = DEFAULT_DIRECTORY,
        fsync: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        direct_io: bool = False,
    ):
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = path.resolve(strict=True)
        self.fsync = fsync
        self.chunk_size = chunk_size
        self.direct_io = direct_io
        self._active: set[str] = set()  # temporary files of writes in this process
        self._lock = threading.Lock()

    # -- names -------------------------------------------------------------------------
    def location_for(self, image_id: str) -> str:
        return (self.directory / _checked_id(image_id)).as_uri()

    def _path(self, location: str) -> Path:
        parts = urlsplit(location)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query:
            raise InvalidLocation("not a location of this file store")
        path = Path(unquote(parts.path))
        if path.parent != self.directory or path.name in ("", ".", ".."):
            raise InvalidLocation("location is outside the store's directory")
        _checked_id(path.name)
        return path

    def _open(self, location: str) -> int:
        try:
            fd = os.open(self._path(location), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound("no image data at this location") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InvalidLocation("image data is a symbolic link") from None
            raise _storage_error(exc, "open image data") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidLocation("image data is not a regular file")
        return fd

    # -- the interface -----------------------------------------------------------------
    def writer(self, image_id: str) -> Writer:
        return _FileWriter(self, _checked_id(image_id))

    def get(self, location: str, offset: int = 0, chunk_size: int | None = None) -> Iterator[bytes]:
        chunk_size = chunk_size or self.chunk_size
        fd = self._open(location)
        # FileIO closes the descriptor even if the iterator is dropped before it starts.
        file = io.FileIO(fd, "rb", closefd=True)
        size = os.fstat(fd).st_size
        if not 0 <= offset <= size:
            file.close()
            raise ValueError(f"offset {offset} is outside 0..{size}")
        file.seek(offset)
        os.posix_fadvise(fd, offset, 0, os.POSIX_FADV_SEQUENTIAL)
        return self._chunks(file, chunk_size)

    @staticmethod
    def _chunks(file: io.FileIO, chunk_size: int) -> Iterator[bytes]:
        with file:
            while chunk := file.read(chunk_size):
                yield chunk

    def delete(self, location: str) -> None:
        try:
            os.unlink(self._path(location))
        except FileNotFoundError:
            raise NotFound("no image data at this location") from None
        except OSError as exc:
            raise _storage_error(exc, "delete image data") from None
        if self.fsync:
            _fsync_directory(self.directory)

    def get_size(self, location: str) -> int:
        try:
            st = os.stat(self._path(location), follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound("no image data at this location") from None
        if not stat.S_ISREG(st.st_mode):
            raise InvalidLocation("image data is not a regular file")
        return st.st_size

    def scrub(self, older_than: float = 0.0) -> list[str]:
        """Remove temporary files of writes that will never finish.

        Files of writes in progress in this process are kept; `older_than` protects those of
        other processes sharing the directory. Returns the removed paths.
        """
        removed, limit = [], time.time() - older_than
        with self._lock:
            active = set(self._active)
        for entry in os.scandir(self.directory):
            if not _TEMP_NAME.match(entry.name) or entry.path in active:
                continue
            try:
                if (
                    not entry.is_file(follow_symlinks=False)
                    or entry.stat(follow_symlinks=False).st_mtime > limit
                ):
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(entry.path)
        return sorted(removed)

    def _track(self, path: str, active: bool) -> None:
        with self._lock:
            (self._active.add if active else self._active.discard)(path)


class _FileWriter(Writer):
    def __init__(self, store: FileStore, image_id: str):
        self._store = store
        self._final = store.directory / image_id
        if os.path.lexists(self._final):
            raise Duplicate("data for this image is already stored")
        try:
            self._fd, self._temp = tempfile.mkstemp(
                prefix=f".{image_id}.", suffix=TEMP_SUFFIX, dir=store.directory
            )
        except OSError as exc:
            raise _storage_error(exc, "create a temporary file") from None
        self._temp_exists = True
        store._track(self._temp, True)
        self._direct: _DirectWrites | None = None
        if store.direct_io:
            try:
                self._direct = _DirectWrites.open(self._temp)
            except OSError as exc:
                self.abort()
                raise _storage_error(exc, "open a temporary file") from None

    def write(self, chunk: bytes) -> None:
        try:
            if self._direct is not None:
                self._direct.write(chunk)
            else:
                files.write_all(self._fd, chunk)
        except OSError as exc:
            self.abort()
            raise _storage_error(exc, "write image data") from None

    def commit(self) -> str:
        try:
            if self._direct is not None:
                self._direct.finish(self._fd)
            if self._store.fsync:
                os.fsync(self._fd)
            self._close()
            os.link(self._temp, self._final)
        except FileExistsError:
            self.abort()
            raise Duplicate("data for this image is already stored") from None
        except OSError as exc:
            self.abort()
            raise _storage_error(exc, "store image data") from None
        self._discard_temp()  # the data lives on under its real name
        if self._store.fsync:
            _fsync_directory(self._store.directory)
        return self._final.as_uri()

    def abort(self) -> None:
        self._close()
        self._discard_temp()

    def _discard_temp(self) -> None:
        if self._temp_exists:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp)
            self._temp_exists = False
            self._store._track(self._temp, False)

    def _close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class _DirectWrites:
    """Writes that bypass the page cache. On virtual machines whose free memory the host takes
    back, every fresh cache page faults to the host: copying an upload into the cache then
    costs about as much CPU as both its digests, and evicts what nodes and downloads read.
    To disk directly it is one memcpy into the stage and DMA; the first read of the image
    comes from the disk instead. Full stages go out with O_DIRECT; the tail, shorter than a
    stage, through the ordinary descriptor at commit."""

    def __init__(self, fd: int):
        self._fd = fd
        self._stage = mmap.mmap(-1, DIRECT_STAGE_BYTES)  # page-aligned
        self._filled = 0  # bytes in the stage
        self._offset = 0  # bytes written to the file

    @classmethod
    def open(cls, path: str) -> _DirectWrites | None:
        """None where the filesystem refuses O_DIRECT."""
        try:
            return cls(os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC))
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            return None

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            taken = min(len(view), DIRECT_STAGE_BYTES - self._filled)
            self._stage[self._filled : self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == DIRECT_STAGE_BYTES:
                self._flush()

    def _flush(self) -> None:
        self._write_stage(self._fd)

    def finish(self, buffered_fd: int) -> None:
        """The tail after the last full stage, written through `buffered_fd`."""
        self._write_stage(buffered_fd)

    def _write_stage(self, fd: int) -> None:
        # A short direct write can only stop at a block boundary: the rest goes from there.
        stage = memoryview(self._stage)[: self._filled]
        done = 0
        while done < len(stage):
            done += os.pwrite(fd, stage[done:], self._offset + done)
        self._offset += self._filled
        self._filled = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            # Dropped, not closed: a failed write's traceback may still hold a view of it.
            del self._stage
