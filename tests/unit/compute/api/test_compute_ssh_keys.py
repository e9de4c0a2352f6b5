import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.compute.api import ssh_keys as keypairs
from stratus_common.errors import InvalidArgument


def _openssh(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def test_generated_key_pair_matches_and_imports_back():
    material = keypairs.generate()
    assert material.public_key.startswith("ssh-ed25519 ")
    private = serialization.load_ssh_private_key(material.private_key.encode(), None)
    assert _openssh(private) == material.public_key
    assert keypairs.import_public(material.public_key).fingerprint == material.fingerprint


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen not installed")
def test_fingerprint_matches_ssh_keygen(tmp_path):
    material = keypairs.generate()
    path = tmp_path / "k.pub"
    path.write_text(material.public_key + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[1] == material.fingerprint


def test_import_accepts_rsa_with_comment():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    line = _openssh(key) + " alice@example"
    assert keypairs.import_public(line).public_key == line


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "ssh-rsa AAAA",
        "ssh-ed25519 !!!!",
        _openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtF\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJtF",
    ],
    ids=["empty", "text", "truncated", "bad-base64", "rsa-1024", "dsa", "two-lines"],
)
def test_import_refuses_bad_keys(text):
    with pytest.raises(InvalidArgument) as info:
        keypairs.import_public(text)
    assert info.value.violations[0].field == "key_pair.public_key"


@pytest.mark.parametrize(
    "name,ok",
    [
        ("my-key", True),
        ("a.b_c d@e", True),
        ("x" * 255, True),
        ("", False),
        ("   ", False),
        ("x" * 256, False),
        ("bad/name", False),
        ("tab\tname", False),
    ],
)
def test_names(name, ok):
    if ok:
        assert keypairs.check_name(name) == name
    else:
        with pytest.raises(InvalidArgument):
            keypairs.check_name(name)
