"""The default store: one file per image in a local (or shared) directory.

A write goes to a hidden temporary file in the same directory, is fsynced, then linked to
its real name (link refuses to replace an existing image, unlike rename) and the directory
is fsynced: a crash leaves either the whole image or a temporary file that `scrub()` removes.
Paths are only ever built from a validated UUID, and locations are accepted only if they
name a file directly inside the directory.
"""

from __future__ import annotations

import contextlib
import errno
import io
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
    ):
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        path = Path(directory)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = path.resolve(strict=True)
        self.fsync = fsync
        self.chunk_size = chunk_size
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

    def write(self, chunk: bytes) -> None:
        try:
            files.write_all(self._fd, chunk)
        except OSError as exc:
            self.abort()
            raise _storage_error(exc, "write image data") from None

    def commit(self) -> str:
        try:
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
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
