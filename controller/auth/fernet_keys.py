"""The Fernet key repository on disk, with Keystone's rotation model.

A directory of key files named 0..N: 0 is the staged key, the highest number is the primary
(it encrypts new tokens) and the others are secondaries (they still decrypt). Rotation
promotes the staged key to primary under the next number, writes a new staged key and drops
the oldest secondaries, so that at most `max_active_keys` files remain, staged key included.
Every controller already accepts the staged key, so when several controllers share a
repository, the one that rotates first issues tokens the others can validate.

Files are written 0600 through a temporary file and a rename; a rotation holds an exclusive
lock on the directory, so two `stratus-manage` runs cannot interleave.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import secrets
import stat
import threading

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LOG = logging.getLogger(__name__)

__all__ = [
    "KeyRepository",
    "KeyRepositoryError",
    "derived_fernet",
    "fernet_order",
    "rotation_plan",
]

_KEY_NAME = re.compile(r"0|[1-9][0-9]*")
_LOCK_NAME = ".lock"
_TMP_PREFIX = ".tmp-"


class KeyRepositoryError(Exception):
    """The key repository is missing, unsafe or holds something that is not a key."""


class KeyRepository:
    def __init__(self, path: str | os.PathLike, max_active_keys: int = 3):
        if not isinstance(max_active_keys, int) or max_active_keys < 1:
            raise ValueError(f"max_active_keys must be at least 1, not {max_active_keys!r}")
        self.path = os.fspath(path)
        self.max_active_keys = max_active_keys
        self._fernet: MultiFernet | None = None
        self._raw_keys: list[bytes] = []
        self._derived: dict[bytes, tuple[list[bytes], MultiFernet]] = {}
        self._signature: tuple | None = None
        self._reload_lock = threading.Lock()

    # --- writing (stratus-manage) --------------------------------------------------------

    def initialize(self) -> bool:
        """Create the repository (staged key 0 and primary key 1) unless it holds keys.
        Returns whether it created them."""
        if not os.path.isdir(self.path):
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            os.chmod(self.path, 0o700)
        with self._locked():
            if self._key_paths():
                return False
            # Keystone's own set-up: a staged key, then a first rotation.
            self._write_key("0")
            self._rotate_locked()
            return True

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a new key, purge the oldest secondaries.
        Returns the new primary's number."""
        with self._locked():
            return self._rotate_locked()

    def _rotate_locked(self) -> int:
        keys = self._key_paths()
        if not keys:
            raise KeyRepositoryError(
                f"key repository {self.path} holds no keys: initialize it first"
            )
        if 0 not in keys:
            # An interrupted rotation renamed 0 away; stage a key before going on.
            self._write_key("0")
            keys[0] = os.path.join(self.path, "0")
        new_primary, purged = rotation_plan(keys, self.max_active_keys)
        # The next staged key exists (as a temporary file) before the old one is promoted,
        # so the repository never lacks a staged key for longer than one rename.
        tmp = self._write_tmp(Fernet.generate_key())
        os.rename(keys.pop(0), os.path.join(self.path, str(new_primary)))
        os.rename(tmp, os.path.join(self.path, "0"))
        keys[new_primary] = os.path.join(self.path, str(new_primary))
        for number in purged:
            LOG.info("key repository %s: purging key %d", self.path, number)
            os.remove(keys[number])
        self._fsync_dir()
        LOG.info("key repository %s: key %d is the new primary", self.path, new_primary)
        return new_primary

    def _write_key(self, name: str) -> None:
        os.rename(self._write_tmp(Fernet.generate_key()), os.path.join(self.path, name))
        self._fsync_dir()

    def _write_tmp(self, key: bytes) -> str:
        tmp = os.path.join(self.path, _TMP_PREFIX + secrets.token_hex(8))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _fsync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self):
        self._check_directory()
        fd = os.open(os.path.join(self.path, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for name in os.listdir(self.path):
                if name.startswith(_TMP_PREFIX):  # left by a writer that died
                    os.remove(os.path.join(self.path, name))
            yield
        finally:
            os.close(fd)

    # --- reading (the controller) --------------------------------------------------------

    def key_numbers(self) -> list[int]:
        """The key numbers on disk, ascending (0 = staged, the last = primary)."""
        self._check_directory()
        return sorted(self._key_paths())

    def read_key(self, number: int) -> bytes:
        """One key by its number (to move the repository into another store)."""
        return self._read_key(os.path.join(self.path, str(number)))

    def load(self) -> MultiFernet:
        """Read every key: the primary first (it encrypts), then the staged key and the
        secondaries, newest first (they only decrypt)."""
        signature = self._stat_signature()
        self._check_directory()
        keys = self._key_paths()
        if not keys:
            raise KeyRepositoryError(
                f"key repository {self.path} holds no keys: initialize it first"
            )
        raw_keys = [self._read_key(keys[n]) for n in fernet_order(keys)]
        fernet = MultiFernet([Fernet(key) for key in raw_keys])
        self._fernet, self._raw_keys, self._signature = fernet, raw_keys, signature
        return fernet

    def reload_if_changed(self) -> bool:
        """Reload when the directory changed since the last load (one stat call); a rotation
        renames files, which always changes the directory. On a failed reload the keys
        already loaded stay in use and the error is logged. Returns whether it reloaded."""
        signature = self._stat_signature()
        if signature == self._signature and self._fernet is not None:
            return False
        with self._reload_lock:
            if signature == self._signature and self._fernet is not None:
                return False
            if self._fernet is None:
                self.load()
                return True
            try:
                self.load()
            except (KeyRepositoryError, OSError) as exc:
                LOG.error(
                    "key repository %s changed but cannot be loaded; keeping the keys "
                    "already loaded: %s",
                    self.path,
                    exc,
                )
                self._signature = signature  # do not retry (and log) until it changes again
                return False
            return True

    def current(self) -> MultiFernet:
        """The keys in force, reloaded first if the directory changed."""
        self.reload_if_changed()
        return self._fernet

    # The key source interface the token service relies on (the database key ring of
    # controller/shared_secrets has it too): a directory is checked on every current().
    def refresh(self) -> None:
        self.reload_if_changed()

    def needs_check(self) -> bool:
        return False

    @property
    def revision(self) -> tuple | None:
        return self._signature

    def derived(self, purpose: bytes) -> MultiFernet:
        """Keys for another use than tokens: one derived from each key in force by HKDF with
        `purpose`, in the same order. Every controller sharing the repository derives the same
        keys, and they rotate with it; a token key never serves two purposes."""
        self.reload_if_changed()
        return derived_fernet(self._derived, self._raw_keys, purpose)

    def _stat_signature(self) -> tuple:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise KeyRepositoryError(f"key repository {self.path} does not exist") from None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def _check_directory(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise KeyRepositoryError(f"key repository {self.path} does not exist") from None
        if not stat.S_ISDIR(st.st_mode):
            raise KeyRepositoryError(f"key repository {self.path} is not a directory")
        if st.st_mode & stat.S_IRWXO:
            raise KeyRepositoryError(
                f"key repository {self.path} is open to other users (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 700 {self.path}`"
            )

    def _key_paths(self) -> dict[int, str]:
        return {
            int(name): os.path.join(self.path, name)
            for name in os.listdir(self.path)
            if _KEY_NAME.fullmatch(name)
        }

    @staticmethod
    def _read_key(path: str) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise KeyRepositoryError(f"cannot read key file {path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise KeyRepositoryError(f"key file {path} is not a regular file")
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyRepositoryError(
                    f"key file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                    f"run `chmod 600 {path}`"
                )
            data = os.read(fd, 1024)
        finally:
            os.close(fd)
        try:
            Fernet(data.strip())
            return data.strip()
        except ValueError:
            raise KeyRepositoryError(
                f"key file {path} does not hold a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None


def fernet_order(numbers) -> list[int]:
    """Key numbers in MultiFernet order: the primary first (it encrypts), then the staged key
    and the secondaries, newest first (they only decrypt)."""
    primary = max(numbers)
    return [primary, *sorted((n for n in numbers if n != primary), key=lambda n: (n != 0, -n))]


def rotation_plan(numbers, max_active_keys: int) -> tuple[int, list[int]]:
    """Keystone's rotation on a key set holding a staged key 0: (the number the staged key
    is promoted to, the numbers to purge so that at most max_active_keys remain, the new
    staged key included)."""
    new_primary = max(numbers) + 1
    kept = sorted([n for n in numbers if n != 0] + [new_primary], reverse=True)
    return new_primary, kept[max(max_active_keys - 1, 0) :]


def derived_fernet(cache: dict, raw_keys: list[bytes], purpose: bytes) -> MultiFernet:
    """Keys derived for `purpose` from `raw_keys` (see KeyRepository.derived), cached in
    `cache` until the key list changes."""
    cached = cache.get(purpose)
    if cached is None or cached[0] is not raw_keys:
        cached = (raw_keys, MultiFernet([Fernet(_derive(key, purpose)) for key in raw_keys]))
        cache[purpose] = cached
    return cached[1]


def _derive(key: bytes, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
    return base64.urlsafe_b64encode(hkdf.derive(base64.urlsafe_b64decode(key)))
