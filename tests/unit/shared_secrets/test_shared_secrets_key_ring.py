"""The database key ring's rules, over a store kept in a dict (the SQL behind SecretStore is
exercised by tests/integration/replication on every engine)."""

import pytest
from cryptography.fernet import Fernet, InvalidToken

from controller.auth.fernet_keys import KeyRepositoryError, rotation_plan
from controller.shared_secrets.key_ring import DatabaseKeyRing
from controller.shared_secrets.store import Secret


class DictStore:
    """SecretStore's contract: compare-and-set on the revision."""

    def __init__(self):
        self.rows: dict[str, Secret] = {}
        self.revision_reads = 0

    def read(self, name):
        return self.rows.get(name)

    def revision(self, name):
        self.revision_reads += 1
        row = self.rows.get(name)
        return row.revision if row else None

    def create(self, name, value):
        if name in self.rows:
            return False
        self.rows[name] = Secret(1, value)
        return True

    def replace(self, name, expected, value):
        if self.rows[name].revision != expected:
            return False
        self.rows[name] = Secret(expected + 1, value)
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def ring(store, clock=None, check=1.0):
    return DatabaseKeyRing(store, 3, check, clock or Clock())


def test_a_replica_without_keys_in_the_database_refuses_to_start():
    with pytest.raises(KeyRepositoryError, match="setup-keys"):
        ring(DictStore()).refresh()


def test_setup_stores_a_staged_and_a_primary_key_once():
    store = DictStore()
    assert ring(store).initialize() is True
    assert ring(store).initialize() is False
    assert ring(store).key_numbers() == [0, 1]


def test_setup_moves_an_existing_repository_as_it_is():
    store, keys = DictStore(), {0: Fernet.generate_key(), 4: Fernet.generate_key()}
    ring(store).initialize(keys)
    reader = ring(store)
    reader.refresh()
    token = Fernet(keys[4]).encrypt(b"issued before the move")
    assert reader.current().decrypt(token) == b"issued before the move"


def test_a_rotation_on_one_replica_is_seen_by_another_at_its_next_refresh():
    store = DictStore()
    ring(store).initialize()
    one, two = ring(store), ring(store)
    one.refresh()
    two.refresh()
    old = one.current().encrypt(b"x")
    assert two.rotate() == 2
    assert two.rotate() == 3  # key 1 dropped
    assert one.current().decrypt(old) == b"x"  # not refreshed yet
    one.refresh()
    with pytest.raises(InvalidToken):
        one.current().decrypt(old)
    assert one.revision == 3


def test_the_revision_is_read_again_only_after_key_check_seconds():
    store, clock = DictStore(), Clock()
    ring(store).initialize()
    replica = ring(store, clock, check=1.0)
    replica.refresh()
    assert not replica.needs_check()
    clock.now += 1.0
    assert replica.needs_check()
    assert ring(store, check=0.0).needs_check()  # 0: every validation reads it


def test_two_rotations_at_once_both_apply_one_after_the_other():
    store = DictStore()
    ring(store).initialize()
    first, second = ring(store), ring(store)
    stale = store.rows["fernet_keys"]
    assert first.rotate() == 2
    # `second` read the set before `first` wrote: its write is refused, it reads again.
    original = store.read
    reads = iter([stale])
    store.read = lambda name: next(reads, None) or original(name)
    assert second.rotate() == 3
    assert store.rows["fernet_keys"].revision == 3


@pytest.mark.parametrize(
    "numbers, maximum, promoted, purged",
    [
        ([0, 1], 3, 2, []),
        ([0, 1, 2], 3, 3, [1]),
        ([0, 5, 6, 7], 3, 8, [6, 5]),
        ([0, 1], 1, 2, [2, 1]),  # one key: the staged key is its own primary
    ],
)
def test_rotation_plan_is_keystone_s(numbers, maximum, promoted, purged):
    assert rotation_plan(numbers, maximum) == (promoted, purged)
