"""Page tokens are sealed with keys derived from the token key repository: every replica that
shares the repository opens them, across a rotation, and nothing else does."""

import pytest
from cryptography.fernet import InvalidToken

from controller.auth.fernet_keys import KeyRepository
from controller.rpc.page_tokens import PURPOSE, PageTokens
from stratus_common.errors import InvalidArgument


def _tokens(repo: KeyRepository) -> PageTokens:
    return PageTokens(lambda: repo.derived(PURPOSE))


@pytest.fixture
def path(tmp_path):
    KeyRepository(tmp_path / "keys").initialize()
    return tmp_path / "keys"


def test_a_token_sealed_by_one_replica_opens_on_another(path):
    one, two = KeyRepository(path), KeyRepository(path)
    one.load()
    two.load()
    token = _tokens(one).seal('{"a": ["x"], "d": "0"}')
    assert '"a"' not in token
    assert _tokens(two).open(token) == '{"a": ["x"], "d": "0"}'


def test_a_token_still_opens_after_a_key_rotation(path):
    repo = KeyRepository(path)
    repo.load()
    token = _tokens(repo).seal("position")
    KeyRepository(path).rotate()
    assert _tokens(repo).open(token) == "position"


def test_a_token_of_another_repository_or_altered_does_not_open(path, tmp_path):
    other = KeyRepository(tmp_path / "other")
    other.initialize()
    other.load()
    repo = KeyRepository(path)
    repo.load()
    token = _tokens(other).seal("position")
    for forged in (token, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "", "é"):
        with pytest.raises(InvalidArgument):
            _tokens(repo).open(forged)


def test_page_token_keys_are_not_the_token_keys(path):
    repo = KeyRepository(path)
    repo.load()
    token = _tokens(repo).seal("position")
    with pytest.raises(InvalidToken):
        repo.current().decrypt(token + "=" * (-len(token) % 4))
