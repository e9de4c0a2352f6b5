import logging
import os
import stat

import pytest
from cryptography.fernet import Fernet, InvalidToken

from controller.auth.fernet_keys import KeyRepository, KeyRepositoryError


def keystone_model(max_active_keys, rotations):
    """The key numbers Keystone's fernet_setup then `rotations` fernet_rotate leave on disk."""
    keys = {0}
    history = []
    for _ in range(rotations + 1):  # set-up is one rotation of a lone staged key
        new_primary = max(keys) + 1
        keys.discard(0)
        keys.add(new_primary)
        for number in sorted(keys, reverse=True)[max(max_active_keys - 1, 0) :]:
            keys.discard(number)
        keys.add(0)
        history.append(sorted(keys))
    return history


def contents(repo):
    out = {}
    for n in repo.key_numbers():
        with open(os.path.join(repo.path, str(n)), "rb") as f:
            out[n] = f.read()
    return out


@pytest.fixture
def repo(tmp_path):
    r = KeyRepository(tmp_path / "keys")
    assert r.initialize() is True
    return r


def test_initialize_creates_staged_and_primary(repo):
    assert repo.key_numbers() == [0, 1]
    mode = stat.S_IMODE(os.stat(repo.path).st_mode)
    assert mode == 0o700
    for n in (0, 1):
        st = os.stat(os.path.join(repo.path, str(n)))
        assert stat.S_IMODE(st.st_mode) == 0o600


def test_initialize_is_idempotent(repo):
    before = contents(repo)
    assert repo.initialize() is False
    assert contents(repo) == before


@pytest.mark.parametrize("max_active_keys", [1, 2, 3, 5])
def test_rotation_sequence_matches_keystone(tmp_path, max_active_keys):
    repo = KeyRepository(tmp_path / "keys", max_active_keys=max_active_keys)
    repo.initialize()
    observed = [repo.key_numbers()]
    for _ in range(6):
        repo.rotate()
        observed.append(repo.key_numbers())
    assert observed == keystone_model(max_active_keys, 6)


def test_known_sequence_for_three_keys(repo):
    assert [repo.rotate() for _ in range(3)] == [2, 3, 4]
    assert repo.key_numbers() == [0, 3, 4]


def test_rotation_promotes_the_staged_key_and_stages_a_new_one(repo):
    before = contents(repo)
    assert repo.rotate() == 2
    after = contents(repo)
    assert after[2] == before[0]  # the staged key became the primary
    assert after[1] == before[1]  # the old primary is a secondary
    assert after[0] not in before.values()  # a fresh staged key
    assert stat.S_IMODE(os.stat(os.path.join(repo.path, "2")).st_mode) == 0o600


def test_rotate_purges_the_oldest(repo):
    c = contents(repo)
    repo.rotate()
    repo.rotate()
    assert 1 not in repo.key_numbers()
    assert c[1] not in contents(repo).values()


def test_rotate_an_empty_repository_is_refused(tmp_path):
    path = tmp_path / "keys"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyRepositoryError, match="no keys"):
        KeyRepository(path).rotate()


def test_rotate_repairs_a_missing_staged_key(repo):
    os.remove(os.path.join(repo.path, "0"))
    assert repo.rotate() == 2
    assert repo.key_numbers() == [0, 1, 2]


def test_no_temporary_files_left(repo):
    repo.rotate()
    names = set(os.listdir(repo.path)) - {"0", "1", "2"}
    assert names <= {".lock"}


def test_stale_temporary_files_are_cleaned(repo):
    stale = os.path.join(repo.path, ".tmp-deadbeef")
    with open(stale, "wb") as f:
        f.write(b"junk")
    repo.rotate()
    assert not os.path.exists(stale)


def test_load_puts_the_primary_first(repo):
    repo.rotate()  # 0 staged, 1 secondary, 2 primary
    keys = contents(repo)
    token = repo.load().encrypt(b"x")
    assert Fernet(keys[2]).decrypt(token) == b"x"
    with pytest.raises(InvalidToken):
        Fernet(keys[1]).decrypt(token)


@pytest.mark.parametrize("number", [0, 1, 2])
def test_staged_and_secondary_keys_validate(repo, number):
    repo.rotate()
    token = Fernet(contents(repo)[number]).encrypt(b"x")
    assert repo.load().decrypt(token) == b"x"


def test_purged_key_stops_validating(repo):
    old = Fernet(contents(repo)[1]).encrypt(b"x")
    repo.rotate()
    assert repo.load().decrypt(old) == b"x"
    repo.rotate()
    with pytest.raises(InvalidToken):
        repo.load().decrypt(old)


def test_single_key_repository_is_its_own_primary(tmp_path):
    repo = KeyRepository(tmp_path / "keys", max_active_keys=1)
    repo.initialize()
    assert repo.key_numbers() == [0]
    token = repo.load().encrypt(b"x")
    assert Fernet(contents(repo)[0]).decrypt(token) == b"x"


def test_reload_if_changed_picks_up_another_process_rotation(repo):
    current = repo.current()
    assert repo.reload_if_changed() is False
    assert repo.current() is current
    KeyRepository(repo.path).rotate()  # stratus-manage, elsewhere
    assert repo.reload_if_changed() is True
    new_primary = contents(repo)[max(repo.key_numbers())]
    assert Fernet(new_primary).decrypt(repo.current().encrypt(b"x")) == b"x"
    assert repo.reload_if_changed() is False


def test_failed_reload_keeps_the_loaded_keys(repo, caplog):
    token = repo.current().encrypt(b"x")
    with open(os.path.join(repo.path, "7"), "wb") as f:
        f.write(b"not a key")
    os.chmod(os.path.join(repo.path, "7"), 0o600)
    with caplog.at_level(logging.ERROR, logger="controller.auth.fernet_keys"):
        assert repo.reload_if_changed() is False
    assert "does not hold a Fernet key" in caplog.text
    assert repo.current().decrypt(token) == b"x"
    with pytest.raises(KeyRepositoryError):
        repo.load()


@pytest.mark.parametrize("max_active_keys", [0, -1])
def test_max_active_keys_below_one(tmp_path, max_active_keys):
    with pytest.raises(ValueError, match="max_active_keys must be at least 1"):
        KeyRepository(tmp_path, max_active_keys=max_active_keys)


@pytest.mark.parametrize("mode", [0o755, 0o704, 0o701, 0o702])
def test_directory_open_to_others_is_refused(repo, mode):
    os.chmod(repo.path, mode)
    with pytest.raises(KeyRepositoryError, match="chmod 700"):
        repo.load()
    with pytest.raises(KeyRepositoryError, match="chmod 700"):
        repo.rotate()


def test_existing_world_readable_directory_is_not_initialized(tmp_path):
    path = tmp_path / "keys"
    path.mkdir()
    os.chmod(path, 0o755)
    with pytest.raises(KeyRepositoryError, match="open to other users"):
        KeyRepository(path).initialize()
    assert os.listdir(path) == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_readable_by_others_is_refused(repo, mode):
    os.chmod(os.path.join(repo.path, "1"), mode)
    with pytest.raises(KeyRepositoryError, match="chmod 600"):
        repo.load()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"short",
        b"A" * 44,
        b"wK1x3vVqRZ2hX8mN5bY7cT0fL4jP9sD6gE2aU1iO3k",
    ],
    ids=["empty", "short", "not-base64-key", "truncated-key"],
)
def test_bad_key_content_is_refused(repo, content):
    path = os.path.join(repo.path, "1")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(KeyRepositoryError, match=f"{path} does not hold a Fernet key"):
        repo.load()


def test_key_with_trailing_newline_is_accepted(repo):
    path = os.path.join(repo.path, "1")
    key = Fernet.generate_key()
    with open(path, "wb") as f:
        f.write(key + b"\n")
    assert Fernet(key).decrypt(repo.load().encrypt(b"x")) == b"x"


def test_a_directory_named_like_a_key_is_refused(repo):
    os.mkdir(os.path.join(repo.path, "5"), 0o700)
    with pytest.raises(KeyRepositoryError, match=r"not a regular file|cannot read"):
        repo.load()


def test_other_files_are_ignored(repo):
    for name in ("README", "01", "-1", "1.bak"):
        with open(os.path.join(repo.path, name), "w") as f:
            f.write("x")
    assert repo.key_numbers() == [0, 1]
    repo.load()


def test_missing_or_empty_repository(tmp_path):
    with pytest.raises(KeyRepositoryError, match="does not exist"):
        KeyRepository(tmp_path / "absent").load()
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    with pytest.raises(KeyRepositoryError, match="no keys"):
        KeyRepository(empty).load()
