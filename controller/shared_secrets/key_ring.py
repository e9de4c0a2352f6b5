"""The Fernet token keys in the shared database: every replica reads one key set, and a
rotation made anywhere reaches all of them (docs/adr/0013).

The key set is one sealed row (SecretStore, name "fernet_keys") holding Keystone's model —
staged key 0, primary = highest number, secondaries — with a revision bumped on every
rotation. A replica keeps the set in memory and learns of a rotation by reading the revision
(one primary-key lookup): always before it accepts a token it has not validated yet, and
before honouring a cached validation once `key_check_seconds` have passed since the last
read. So a key dropped by a rotation is never used for a new validation anywhere, and a
cached one lasts at most `key_check_seconds` after the rotation.

Methods that touch the database run inside a connection context (`db.call` / `db.run`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from cryptography.fernet import Fernet, MultiFernet

from controller.auth.fernet_keys import (
    KeyRepositoryError,
    derived_fernet,
    fernet_order,
    rotation_plan,
)
from controller.shared_secrets.store import Secret, SecretStore

LOG = logging.getLogger(__name__)
NAME = "fernet_keys"
# A rotation racing another one re-reads and tries again; two writers settle in two tries.
ROTATION_ATTEMPTS = 5


def _encode(keys: dict[int, bytes]) -> bytes:
    return json.dumps({str(n): k.decode("ascii") for n, k in sorted(keys.items())}).encode()


def _decode(value: bytes) -> dict[int, bytes]:
    keys = {int(n): k.encode("ascii") for n, k in json.loads(value).items()}
    for key in keys.values():
        Fernet(key)  # refuses anything that is not a Fernet key
    return keys


class DatabaseKeyRing:
    def __init__(
        self,
        store: SecretStore,
        max_active_keys: int = 3,
        key_check_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(max_active_keys, int) or max_active_keys < 1:
            raise ValueError(f"max_active_keys must be at least 1, not {max_active_keys!r}")
        self.store = store
        self.max_active_keys = max_active_keys
        self.key_check_seconds = key_check_seconds
        self._clock = clock
        self.revision: int | None = None
        self._keys: dict[int, bytes] = {}
        self._raw_keys: list[bytes] = []
        self._fernet: MultiFernet | None = None
        self._derived: dict = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    # --- reading (the controller) --------------------------------------------------------

    def load(self) -> MultiFernet:
        secret = self.store.read(NAME)
        if secret is None:
            raise KeyRepositoryError(
                "the database holds no Fernet keys: run `stratus-manage token setup-keys`"
            )
        self._install(secret)
        return self._fernet

    def refresh(self) -> None:
        """Read the key set's revision; reload the keys if a rotation changed it."""
        checked_at = self._clock()
        revision = self.store.revision(NAME)
        if revision != self.revision or self._fernet is None:
            with self._lock:
                if revision != self.revision or self._fernet is None:
                    self.load()
                    LOG.info("Fernet keys reloaded: revision %s", self.revision)
        self._checked_at = checked_at

    def needs_check(self) -> bool:
        return self._clock() - self._checked_at >= self.key_check_seconds

    def current(self) -> MultiFernet:
        if self._fernet is None:
            raise KeyRepositoryError("the Fernet keys are not loaded")
        return self._fernet

    def derived(self, purpose: bytes) -> MultiFernet:
        self.current()
        return derived_fernet(self._derived, self._raw_keys, purpose)

    def key_numbers(self) -> list[int]:
        secret = self.store.read(NAME)
        return sorted(_decode(secret.value)) if secret else []

    def _install(self, secret: Secret) -> None:
        keys = _decode(secret.value)
        raw_keys = [keys[n] for n in fernet_order(keys)]
        self._fernet = MultiFernet([Fernet(key) for key in raw_keys])
        self._keys, self._raw_keys, self.revision = keys, raw_keys, secret.revision

    # --- writing (stratus-manage) --------------------------------------------------------

    def initialize(self, existing: dict[int, bytes] | None = None) -> bool:
        """Store a first key set unless the database holds one: `existing` (a key repository
        being moved into the database), else a staged key and a first rotation, as Keystone
        sets up. Returns whether it stored one."""
        keys = dict(existing) if existing else {0: Fernet.generate_key()}
        if not existing:
            keys = self._rotated(keys)[0]
        if 0 not in keys:
            keys[0] = Fernet.generate_key()
        return self.store.create(NAME, _encode(keys))

    def rotate(self) -> int:
        """Promote the staged key, stage a new one, drop the oldest; returns the new
        primary's number. A rotation racing another is retried on the winner's key set."""
        for _ in range(ROTATION_ATTEMPTS):
            secret = self.store.read(NAME)
            if secret is None:
                raise KeyRepositoryError(
                    "the database holds no Fernet keys: run `stratus-manage token setup-keys`"
                )
            keys, new_primary = self._rotated(_decode(secret.value))
            if self.store.replace(NAME, secret.revision, _encode(keys)):
                LOG.info("Fernet keys in the database: key %d is the new primary", new_primary)
                return new_primary
        raise KeyRepositoryError("the Fernet keys kept changing underneath; rotate again")

    def _rotated(self, keys: dict[int, bytes]) -> tuple[dict[int, bytes], int]:
        new_primary, purged = rotation_plan(keys, self.max_active_keys)
        keys = dict(keys)
        keys[new_primary] = keys.pop(0)
        keys[0] = Fernet.generate_key()
        for number in purged:
            keys.pop(number, None)
        return keys, new_primary
