import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from stratus_common import keys
from tests.unit.ca.ca_fixtures import rsa_key


@pytest.mark.parametrize(
    "algorithm, kind, size",
    [
        (keys.KeyAlgorithm.EC_P256, ec.EllipticCurvePrivateKey, 256),
        (keys.KeyAlgorithm.EC_P384, ec.EllipticCurvePrivateKey, 384),
        (keys.KeyAlgorithm.RSA_3072, keys.rsa.RSAPrivateKey, 3072),
    ],
)
def test_generated_keys_pass_the_policy(algorithm, kind, size):
    key = keys.generate_private_key(algorithm)
    assert isinstance(key, kind) and key.key_size == size
    keys.check_public_key(key.public_key())


@pytest.mark.parametrize(
    "key",
    [
        rsa_key(1024),
        ec.generate_private_key(ec.SECP521R1()),
        ec.generate_private_key(ec.SECP256K1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa-1024", "p-521", "secp256k1", "ed25519"],
)
def test_weak_or_unsupported_keys_are_refused(key):
    with pytest.raises(keys.WeakKeyError):
        keys.check_public_key(key.public_key())


def test_rsa_2048_is_the_smallest_accepted():
    keys.check_public_key(rsa_key(2048).public_key())


def test_private_key_is_written_0600_and_reloads(tmp_path):
    path = tmp_path / "k.pem"
    key = keys.generate_private_key()
    old_umask = os.umask(0)  # even a permissive umask must not widen the file
    try:
        keys.write_private_key(path, key)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.public_key_der(keys.load_private_key(path).public_key()) == keys.public_key_der(
        key.public_key()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]  # no temporary file left


def test_rewriting_replaces_the_key_whole(tmp_path):
    path = tmp_path / "k.pem"
    keys.write_private_key(path, keys.generate_private_key())
    second = keys.generate_private_key()
    keys.write_private_key(path, second)
    assert keys.load_private_key(path).private_numbers() == second.private_numbers()


def test_loading_garbage_names_the_file_not_the_content(tmp_path):
    path = tmp_path / "k.pem"
    path.write_bytes(b"SECRET-LOOKING-BYTES")
    with pytest.raises(ValueError, match="does not hold a PEM private key") as caught:
        keys.load_private_key(path)
    assert str(path) in str(caught.value) and "SECRET" not in str(caught.value)


def test_private_directory_is_created_0700_and_a_shared_one_refused(tmp_path):
    made = keys.ensure_private_directory(tmp_path / "a" / "b")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(PermissionError):
        keys.ensure_private_directory(shared)
