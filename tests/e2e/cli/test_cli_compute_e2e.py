"""Compute commands against a real controller with no compute node: what a user sees when
there is nowhere to boot, and everything that needs no host."""

import json
import uuid

import pytest

from tests.e2e.cli.conftest import serves


@pytest.fixture
def compute_cli(cli):
    if not serves(cli, "flavor", "list"):
        pytest.skip("this controller does not serve stratus.compute.v1 yet")
    return cli


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_flavors(compute_cli):
    name = unique("m1")
    flavor = compute_cli.json(
        "flavor",
        "create",
        name,
        "--ram",
        "512",
        "--disk",
        "1",
        "--vcpus",
        "2",
        "--property",
        "hw:cpu_policy=shared",
    )
    assert (flavor["ram"], flavor["vcpus"], flavor["properties"]) == (
        512,
        2,
        {"hw:cpu_policy": "shared"},
    )
    rows = compute_cli.json("flavor", "list")
    assert {
        "ID": flavor["id"],
        "Name": name,
        "RAM": 512,
        "Disk": 1,
        "Ephemeral": 0,
        "VCPUs": 2,
        "Is Public": True,
    } in rows
    compute_cli("flavor", "set", name, "--description", "small")
    assert compute_cli.value("flavor", "show", name, "-c", "description") == "small"
    compute_cli("flavor", "delete", name)
    compute_cli("flavor", "show", name, expect=5)


def test_a_generated_key_pair_prints_its_private_key_once(compute_cli, tmp_path):
    name = unique("key")
    private = compute_cli("keypair", "create", name).stdout
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    listed = compute_cli.json("keypair", "list")
    assert [k["Name"] for k in listed if k["Name"] == name] == [name]
    assert compute_cli.value("keypair", "show", name, "-c", "fingerprint").startswith("SHA256:")
    compute_cli("keypair", "delete", name)


def test_create_wait_with_nowhere_to_boot_ends_in_error_with_exit_code_7(compute_cli, tmp_path):
    flavor, server = unique("m1"), unique("web")
    compute_cli("flavor", "create", flavor, "--ram", "64", "--disk", "1")
    image_id = str(uuid.uuid4())
    if serves(compute_cli, "image", "list"):
        disk = tmp_path / "disk.raw"
        disk.write_bytes(b"\0" * 65536)
        image_id = compute_cli.value("image", "create", unique("img"), "--file", disk, "-c", "id")
    # output options are checked before anything is created
    proc = compute_cli(
        "server", "create", server, "--flavor", flavor, "--image", image_id, "-c", "hots", expect=2
    )
    assert proc.stderr.startswith("stratus: error: unknown column 'hots'; columns: ")
    assert compute_cli.json("server", "list", "--name", server) == []
    proc = compute_cli(
        "server", "create", server, "--flavor", flavor, "--image", image_id, "--wait", expect=7
    )
    lines = proc.stderr.splitlines()
    assert lines[0] == f"server {server}: BUILD (scheduling)"
    assert lines[-1].startswith(f"stratus: error: server {server} is ERROR: ")
    assert proc.stdout == ""
    shown = compute_cli.json("server", "show", server)
    assert shown["status"] == "ERROR" and shown["fault"]
    events = compute_cli.json("server", "event", "list", server)
    assert [e["Action"] for e in events] == ["create"]
    compute_cli("server", "delete", server, "--wait")
    compute_cli("server", "show", server, expect=5)


def test_quota_and_operator_views(compute_cli):
    quotas = {row["Resource"]: row for row in compute_cli.json("quota", "show")}
    assert set(quotas) >= {"instances", "cores", "ram_mb"}
    for command in (
        ["availability", "zone", "list"],
        ["compute", "service", "list"],
        ["hypervisor", "list"],
    ):
        assert isinstance(compute_cli.json(*command), list)
    assert compute_cli.json("hypervisor", "stats", "show")["count"] >= 0


def test_server_list_names_the_image_and_keeps_the_id_of_one_that_is_gone(compute_cli, tmp_path):
    if not serves(compute_cli, "image", "list"):
        pytest.skip("this controller does not serve stratus.image.v1 yet")
    flavor, image = unique("m1"), unique("img")
    compute_cli("flavor", "create", flavor, "--ram", "64", "--disk", "1")
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    image_id = compute_cli.value("image", "create", image, "--file", disk, "-c", "id")
    names = [unique("web") for _ in range(3)]
    for name in names:
        compute_cli("server", "create", name, "--flavor", flavor, "--image", image)
    proc = compute_cli(
        "--debug", "server", "list", "--name", "web-", "-f", "json", "-c", "Name", "-c", "Image"
    )
    assert {
        r["Name"]: r["Image"] for r in json.loads(proc.stdout) if r["Name"] in names
    } == dict.fromkeys(names, image)
    # one lookup for every row, not one per row
    calls = [line for line in proc.stderr.splitlines() if line.startswith("stratus: debug: call")]
    assert [c for c in calls if "Image" in c] == [
        c for c in calls if "/stratus.image.v1.ImageService/ListImages" in c
    ]
    assert len([c for c in calls if "ListImages" in c]) == 1
    compute_cli("image", "delete", image)
    rows = compute_cli.json("server", "list", "--name", names[0], "-c", "Image")
    assert rows == [{"Image": image_id}]
    compute_cli("server", "delete", *names, "--wait")


def test_day2_commands_reach_the_controller(compute_cli, tmp_path):
    """Each day-2 command against the real controller: lock and unlock change the server; the
    others are refused for a server in ERROR with no host, as Nova refuses them, exit code 1
    and the controller's reason, and change nothing."""
    flavor, bigger, server = unique("m1"), unique("m1"), unique("web")
    compute_cli("flavor", "create", flavor, "--ram", "64", "--disk", "1")
    compute_cli("flavor", "create", bigger, "--ram", "128", "--disk", "1")
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    image_id = compute_cli.value("image", "create", unique("img"), "--file", disk, "-c", "id")
    compute_cli(
        "server", "create", server, "--flavor", flavor, "--image", image_id, "--wait", expect=7
    )
    compute_cli("server", "lock", server, "--reason", "audit")
    shown = compute_cli.json("server", "show", server)
    assert (shown["locked"], shown["locked_reason"]) == (True, "audit")
    compute_cli("server", "unlock", server)
    assert compute_cli.json("server", "show", server)["locked"] is False
    for argv in (
        ["resize", server, "--flavor", bigger],
        ["resize", server, "--confirm"],
        ["resize", server, "--revert"],
        ["migrate", server],
        ["evacuate", server],
        ["shelve", server],
        ["unshelve", server],
        ["rebuild", server],
        ["image", "create", server],
    ):
        stderr = compute_cli("server", *argv, expect=1).stderr
        assert stderr.startswith("stratus: FAILED_PRECONDITION: cannot "), stderr
        assert "(reason INVALID_SERVER_STATE" in stderr
    after = compute_cli.json("server", "show", server)
    assert (after["status"], after["flavor"].split()[0]) == ("ERROR", flavor)
    compute_cli("server", "delete", server, "--wait")
