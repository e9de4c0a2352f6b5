"""Image upload and download through the CLI: bytes, hashes, the progress bar on a terminal
and its absence when piped, and the error line for bad input."""

import hashlib
import json
import subprocess
import sys
import uuid

import pytest

from tests.e2e.cli.conftest import ROOT, serves

DATA = b"stratus raw disk\n" * 200_000  # about 3 MiB: several chunks


@pytest.fixture
def image_cli(cli):
    if not serves(cli, "image", "list"):
        pytest.skip("this controller does not serve stratus.image.v1 yet")
    return cli


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(DATA)
    return path


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_upload_piped_is_quiet_and_the_image_is_active_with_its_hash(image_cli, disk):
    name = unique("img")
    proc = image_cli(
        "image",
        "create",
        name,
        "--file",
        disk,
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "-f",
        "json",
    )
    assert proc.stderr == ""
    image = json.loads(proc.stdout)
    assert (image["status"], image["size"], image["disk_format"]) == ("active", len(DATA), "raw")
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    table = image_cli("image", "list", "--name", name).stdout
    assert f"| {image['id']} | {name} | active |" in table


def test_upload_and_download_on_a_terminal_show_progress(image_cli, disk, tmp_path):
    name = unique("img")
    code, shown = image_cli.on_pty(
        "image", "create", name, "--file", disk, "-f", "value", "-c", "status"
    )
    assert code == 0, shown
    assert f"upload {name}" in shown and "100% [" in shown and "/s" in shown
    assert shown.rstrip().endswith("active")
    target = tmp_path / "saved.raw"
    code, shown = image_cli.on_pty("image", "save", name, "--file", target)
    assert code == 0, shown
    assert f"download {name}" in shown and "100% [" in shown
    assert target.read_bytes() == DATA


def test_download_to_a_pipe_is_the_bytes_and_nothing_else(image_cli, disk):
    name = unique("img")
    image_cli("image", "create", name, "--file", disk)
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "image", "save", name],
        cwd=ROOT,
        env=image_cli.env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout == DATA


def test_a_format_that_does_not_match_is_one_line_and_leaves_the_image_queued(image_cli, disk):
    name = unique("img")
    proc = image_cli("image", "create", name, "--file", disk, "--disk-format", "qcow2", expect=1)
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith("stratus: INVALID_ARGUMENT: ")
    assert "was created but its data was not uploaded" in lines[0]
    assert image_cli.value("image", "show", name, "-c", "status") == "queued"
    image_cli("image", "delete", name)
    image_cli("image", "show", name, expect=5)


def test_properties_tags_and_visibility(image_cli, disk):
    name = unique("img")
    image_cli(
        "image", "create", name, "--file", disk, "--property", "os_distro=cirros", "--tag", "tiny"
    )
    image_cli("image", "set", name, "--property", "hw_rng=true", "--private")
    shown = image_cli.json("image", "show", name)
    assert shown["properties"] == {"os_distro": "cirros", "hw_rng": "true"}
    assert (shown["tags"], shown["visibility"]) == (["tiny"], "private")
    image_cli("image", "unset", name, "--property", "hw_rng", "--tag", "tiny")
    shown = image_cli.json("image", "show", name)
    assert shown["properties"] == {"os_distro": "cirros"} and shown["tags"] == []


def test_upload_from_stdin_and_list_in_descending_order(image_cli):
    # Standard input has no size to declare: the upload is completed by its last message.
    tag = unique("tag")
    names = [f"{tag}-1", f"{tag}-2"]
    for name in names:
        image_cli(
            "image",
            "create",
            name,
            "--file",
            "-",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--tag",
            tag,
            stdin=DATA.decode(),
        )
    listed = image_cli.value(
        "image", "list", "--tag", tag, "--sort", "name:desc", "-c", "Name", "-c", "Status"
    )
    assert listed.splitlines() == [f"{names[1]} active", f"{names[0]} active"]
    image_cli("image", "list", "--sort", "name:sideways", expect=2)
