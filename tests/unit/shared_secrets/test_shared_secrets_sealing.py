import os

import pytest

from controller.shared_secrets.sealing import Sealer, SealingError


def test_sealed_values_open_with_the_same_secret_only():
    sealed = Sealer(b"s" * 32).seal(b"the CA key")
    assert b"the CA key" not in sealed.encode()
    assert Sealer(b"s" * 32).open(sealed) == b"the CA key"
    with pytest.raises(SealingError, match="same sealing_key_file"):
        Sealer(b"t" * 32).open(sealed)


def test_a_short_secret_is_refused():
    with pytest.raises(SealingError, match="at least 32 bytes"):
        Sealer(b"short")


def test_the_file_must_be_given_and_private(tmp_path):
    with pytest.raises(SealingError, match="needs sealing_key_file"):
        Sealer.from_file("")
    path = tmp_path / "sealing.key"
    path.write_bytes(os.urandom(48))
    os.chmod(path, 0o644)
    with pytest.raises(SealingError, match="readable by others"):
        Sealer.from_file(str(path))
    os.chmod(path, 0o600)
    assert Sealer.from_file(str(path)).open(Sealer.from_file(str(path)).seal(b"k")) == b"k"
